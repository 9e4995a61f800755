//! Random bytes into the frame and payload decoders: no panic, and no buffer beyond
//! what the bytes themselves justify.

use proptest::prelude::*;
use sochdb::ipc::protocol::frame::{FrameReader, header};
use sochdb::ipc::protocol::reply::{
    Reply, ServerHello, decode_page, decode_query_header, decode_rows, decode_table_list,
    decode_v1_scan, decode_values,
};
use sochdb::ipc::protocol::request::Request;
use sochdb::ipc::protocol::{MAX_PAYLOAD, op};

/// Feeds `bytes` to a reader in `chunk`-sized reads and decodes every frame it yields.
fn feed(bytes: &[u8], chunk: usize) -> usize {
    let mut r = FrameReader::new();
    let mut src = bytes;
    let mut frames = 0;
    loop {
        match r.next_frame() {
            Ok(Some((code, payload))) => {
                frames += 1;
                let _ = Request::decode(code, payload);
                let _ = Reply::decode(code, payload.to_vec());
                continue;
            }
            Ok(None) => {}
            Err(_) => break,
        }
        if src.is_empty() {
            break;
        }
        let mut limited = std::io::Read::take(&mut src, chunk as u64);
        let n = r.fill_from(&mut limited).unwrap();
        assert!(n > 0);
        // The buffer never grows past twice what arrived plus one read chunk.
        assert!(
            r.capacity() <= 2 * bytes.len() + 128 * 1024,
            "{}",
            r.capacity()
        );
    }
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                  chunk in 1usize..300) {
        feed(&bytes, chunk);
    }

    #[test]
    fn random_payloads_never_panic(code in any::<u8>(),
                                   payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::decode(code, &payload);
        let _ = Reply::decode(code, payload.clone());
        let _ = ServerHello::decode(&payload);
        let _ = decode_page(&payload);
        let _ = decode_v1_scan(&payload);
        let _ = decode_query_header(&payload);
        let _ = decode_table_list(&payload);
        let _ = decode_values(&payload);
        let mut rows = Vec::new();
        let _ = decode_rows(&payload, 3, u64::MAX, &mut rows);
        let _ = decode_rows(&payload, 0, 10, &mut rows);
    }

    /// Valid-looking headers of every request opcode with random bodies: the decoders
    /// see structure they must reject piece by piece.
    #[test]
    fn structured_noise_never_panics(code in 0x01u8..=0x23,
                                     body in proptest::collection::vec(
                                         prop_oneof![Just(0u8), Just(1), Just(2), Just(0xff), any::<u8>()],
                                         0..256)) {
        let mut bytes = header(code, body.len() as u32).to_vec();
        bytes.extend_from_slice(&body);
        prop_assert_eq!(feed(&bytes, 7), 1);
        prop_assert!(op::name(code).is_some());
    }

    #[test]
    fn announced_lengths_do_not_allocate(len in (MAX_PAYLOAD as u32 - 10)..=u32::MAX,
                                         code in any::<u8>(),
                                         tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = header(code, len).to_vec();
        bytes.extend_from_slice(&tail);
        feed(&bytes, 3);
    }
}
