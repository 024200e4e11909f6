//! The log reader: a log file from anywhere (`parlend replay FILE`,
//! `parlend run --from-log`). Reading either yields blocks and a trailer
//! that agrees with them, or stops with an error; never a panic, never an
//! allocation beyond the data. (Block heights are replay's to check: it
//! names the height out of place.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use parlend_log::format::LogReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = LogReader::open(std::io::Cursor::new(data.to_vec())) else { return };
    let mut blocks = 0u64;
    loop {
        match reader.next_block() {
            Ok(Some(block)) => {
                blocks += 1;
                assert_eq!(block.encoded_bytes, block.block.encode().len(), "one encoding per block");
            }
            Ok(None) => {
                let trailer = reader.trailer().expect("the end record was read");
                assert_eq!(trailer.blocks, blocks);
                return;
            }
            Err(_) => return,
        }
    }
});
