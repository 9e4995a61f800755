"""Build step of the sochdb package: ships a copy of libsochdb.so inside it.

The library is taken from $SOCHDB_LIB, else from the build directory of the repository
this directory belongs to ($CARGO_TARGET_DIR/release or ../../target/release). When one
is found the wheel carries it (and is tagged for this platform); set SOCHDB_BUNDLE=0 to
build a package without it, which then finds the library at run time.
"""

import os
import shutil
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LIB = "libsochdb.so"


def built_library():
    if os.environ.get("SOCHDB_BUNDLE", "1") == "0":
        return None
    candidates = []
    if os.environ.get("SOCHDB_LIB"):
        candidates.append(Path(os.environ["SOCHDB_LIB"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / LIB)
    candidates.append(HERE.parent.parent / "target" / "release" / LIB)
    for c in candidates:
        if c.is_file():
            return c
    return None


class BuildWithLibrary(build_py):
    """Copies the library into the built package."""

    def run(self):
        super().run()
        lib = built_library()
        if lib is not None:
            dest = Path(self.build_lib) / "sochdb" / LIB
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib, dest)
            os.chmod(dest, 0o755)


class PlatformDistribution(Distribution):
    """A wheel carrying the shared library is specific to this platform."""

    def has_ext_modules(self):
        return built_library() is not None


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=PlatformDistribution)
