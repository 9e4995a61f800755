//! The campaign checkers on hand-made outcomes: they accept what a correct database may
//! show after a crash and catch each kind of violation (a lost acknowledged write, a
//! half-visible operation, a conflicted transaction's write, a deleted key back).

mod harness;

use harness::mixed::{Item, Op, Prefix, Record, Seen, State, Write, check_round};

fn put(k: &str, v: &str) -> Write {
    Write::Put(Item::key(k), v.as_bytes().to_vec())
}

fn state(pairs: &[(&str, &str)]) -> State {
    pairs
        .iter()
        .map(|(k, v)| (Item::key(*k), v.as_bytes().to_vec()))
        .collect()
}

fn rec(thread: u64, seq: u64, op: Op, seen: Seen) -> Record {
    Record {
        thread,
        seq,
        op,
        seen,
    }
}

#[test]
fn prefix_accepts_acknowledged_prefixes_and_the_pending_operation_whole() {
    let mut p = Prefix::new(State::new());
    let a = Op::OneShot(put("t0/s1", "a"));
    let b = Op::Batch(vec![put("u/b/0", "b"), Write::Del(Item::key("t0/s1"))]);
    p.ack(&a);
    p.ack(&b);
    let pending = Op::Batch(vec![put("u/c/0", "c"), put("t0/s2", "c")]);
    assert!(p.check(&state(&[("u/b/0", "b")]), 2, None).is_ok());
    assert!(p.check(&state(&[("t0/s1", "a")]), 1, None).is_ok());
    // An acknowledged operation lost.
    assert!(p.check(&state(&[("t0/s1", "a")]), 2, None).is_err());
    // The pending operation: whole is fine, half is not.
    let whole = state(&[("u/b/0", "b"), ("u/c/0", "c"), ("t0/s2", "c")]);
    assert!(p.check(&whole, 2, Some(&pending)).is_ok());
    assert!(p.check(&whole, 2, None).is_err());
    let half = state(&[("u/b/0", "b"), ("u/c/0", "c")]);
    assert!(p.check(&half, 2, Some(&pending)).is_err());
    // A deleted key back.
    let back = state(&[("u/b/0", "b"), ("t0/s1", "a")]);
    assert!(p.check(&back, 2, None).is_err());
}

#[test]
fn round_check_accepts_correct_outcomes_and_names_each_violation() {
    let base = state(&[("t0/s0", "old"), ("hot/0", "h0")]);
    let records = vec![
        // Thread 0: an acknowledged put, an acknowledged delete, then a batch in flight.
        rec(0, 0, Op::OneShot(put("t0/s1", "r1")), Seen::Acked(None)),
        rec(
            0,
            1,
            Op::OneShot(Write::Del(Item::key("t0/s0"))),
            Seen::Acked(None),
        ),
        rec(
            0,
            2,
            Op::Batch(vec![put("u/r3/0", "r3"), put("t0/s2", "r3")]),
            Seen::InFlight,
        ),
        // Thread 1: a transaction that conflicted, then one acknowledged at ts 9.
        rec(
            1,
            0,
            Op::Txn {
                reads: vec![b"hot/0".to_vec()],
                writes: vec![put("hot/0", "x1"), put("u/x1/1", "x1")],
                abort: false,
            },
            Seen::NotCommitted,
        ),
        rec(
            1,
            1,
            Op::Txn {
                reads: vec![b"hot/0".to_vec()],
                writes: vec![put("hot/0", "x2"), put("u/x2/1", "x2")],
                abort: false,
            },
            Seen::Acked(Some(9)),
        ),
    ];
    let good = state(&[("t0/s1", "r1"), ("hot/0", "x2"), ("u/x2/1", "x2")]);
    assert_eq!(check_round(&base, &records, &good), Vec::<String>::new());
    // The batch in flight may be there, whole.
    let mut with_batch = good.clone();
    with_batch.insert(Item::key("u/r3/0"), b"r3".to_vec());
    with_batch.insert(Item::key("t0/s2"), b"r3".to_vec());
    assert_eq!(
        check_round(&base, &records, &with_batch),
        Vec::<String>::new()
    );

    let bad = |mutate: &dyn Fn(&mut State)| {
        let mut s = good.clone();
        mutate(&mut s);
        check_round(&base, &records, &s)
    };
    // Half of the batch in flight.
    let v = bad(&|s| {
        s.insert(Item::key("u/r3/0"), b"r3".to_vec());
    });
    assert!(v.iter().any(|m| m.contains("half there")), "{v:?}");
    // A lost acknowledged put.
    let v = bad(&|s| {
        s.remove(&Item::key("t0/s1"));
    });
    assert!(v.iter().any(|m| m.contains("t0/s1")), "{v:?}");
    // A deleted key back.
    let v = bad(&|s| {
        s.insert(Item::key("t0/s0"), b"old".to_vec());
    });
    assert!(v.iter().any(|m| m.contains("t0/s0")), "{v:?}");
    // The conflicted transaction's write visible.
    let v = bad(&|s| {
        s.insert(Item::key("u/x1/1"), b"x1".to_vec());
    });
    assert!(v.iter().any(|m| m.contains("u/x1/1")), "{v:?}");
    // An older acknowledged value of a shared key instead of the newest.
    let v = bad(&|s| {
        s.insert(Item::key("hot/0"), b"h0".to_vec());
    });
    assert!(v.iter().any(|m| m.contains("hot/0")), "{v:?}");
    // Something nobody wrote.
    let v = bad(&|s| {
        s.insert(Item::Row(7), b"ghost".to_vec());
    });
    assert!(v.iter().any(|m| m.contains("row 7")), "{v:?}");
}

#[test]
fn history_checker_catches_lost_updates_dirty_reads_and_stale_reads() {
    use harness::history::{End, Step, Txn, check};
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let append = |key, elem: &str, list: &[&str]| Step::Append {
        key,
        elem: elem.into(),
        list: s(list),
    };
    let read = |key, list: &[&str]| Step::Read { key, list: s(list) };
    let txn = |thread, steps, end| Txn {
        thread,
        steps,
        end,
        read_only: false,
    };
    // A serial history passes.
    let ok = [
        txn(
            0,
            vec![read(0, &[]), append(0, "a", &["a"])],
            End::Committed(1),
        ),
        txn(
            1,
            vec![read(0, &["a"]), append(0, "b", &["a", "b"])],
            End::Committed(2),
        ),
        txn(2, vec![read(0, &["a", "b"])], End::Committed(2)),
    ];
    assert_eq!(check(&ok).violations, Vec::<String>::new());
    // Two appends on the same version: a lost update.
    let lost = [
        txn(
            0,
            vec![read(0, &[]), append(0, "a", &["a"])],
            End::Committed(1),
        ),
        txn(
            1,
            vec![read(0, &[]), append(0, "b", &["b"])],
            End::Committed(2),
        ),
    ];
    assert!(
        check(&lost)
            .violations
            .iter()
            .any(|v| v.contains("lost update"))
    );
    // An element of an aborted transaction seen.
    let dirty = [
        txn(0, vec![read(0, &[]), append(0, "a", &["a"])], End::Aborted),
        txn(1, vec![read(0, &["a"])], End::Committed(1)),
    ];
    assert!(
        check(&dirty)
            .violations
            .iter()
            .any(|v| v.contains("aborted"))
    );
    // A read that is stale for its timestamp, though the graph has no cycle.
    let stale = [
        txn(
            0,
            vec![read(0, &[]), append(0, "a", &["a"])],
            End::Committed(1),
        ),
        txn(1, vec![read(0, &[])], End::Committed(5)),
    ];
    let v = check(&stale).violations;
    assert!(v.iter().any(|v| v.contains("timestamp 5")), "{v:?}");
    assert!(!v.iter().any(|v| v.contains("cycle")), "{v:?}");
}
