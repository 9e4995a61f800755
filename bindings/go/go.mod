module sochdb.dev/sochdb

go 1.24
