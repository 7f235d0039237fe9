//! The contract's text forms: printable-ASCII output and the escaped/canonified forms
//! of path bytes.

/// Panics unless every byte is printable ASCII (0x20..=0x7e) or a newline.
pub fn assert_printable(bytes: &[u8], what: &str) {
    if let Some(pos) = bytes
        .iter()
        .position(|&b| b != b'\n' && !(0x20..=0x7e).contains(&b))
    {
        let lo = pos.saturating_sub(60);
        let hi = (pos + 20).min(bytes.len());
        panic!(
            "`{what}` wrote raw byte 0x{:02x} at stdout offset {pos}: {:?}",
            bytes[pos],
            String::from_utf8_lossy(&bytes[lo..hi])
        );
    }
}

/// The contract's path form: bytes outside 0x20..=0x7e, and `\`, as `\xNN` (lowercase).
pub fn esc(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// The `file_changes.log` path form: [`esc`], and `,` as `\x2c` too.
pub fn esc_log(bytes: &[u8]) -> String {
    esc(bytes).replace(',', "\\x2c")
}

/// CFEngine's CanonifyName: every byte but `[A-Za-z0-9_]` becomes `_`.
pub fn canonify(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}
