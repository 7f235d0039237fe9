//! Extended attribute names as FreeBSD's `extattr_list_file(2)`/`extattr_list_link(2)`
//! return them: a buffer of entries, each one length byte then that many bytes of name, no
//! NUL and no namespace prefix (the namespace, `user` or `system`, is the call's).

/// The names in a list buffer, raw bytes, in the kernel's order. A last entry whose
/// length runs past the buffer (a list that grew between the sizing call and the
/// reading one, cut) is an error, as is an empty name.
pub fn parse_list(buf: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut names = Vec::new();
    let mut rest = buf;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len == 0 {
            return Err("an empty attribute name");
        }
        if tail.len() < len {
            return Err("the last name runs past the list (cut)");
        }
        names.push(&tail[..len]);
        rest = &tail[len..];
    }
    Ok(names)
}

/// How the agent names an attribute of namespace `user` or `system`, as Linux's
/// `user.NAME` (`getextattr`/`lsextattr` print names bare and take the namespace apart).
pub fn qualified(namespace_user: bool, name: &[u8]) -> Vec<u8> {
    let mut q = if namespace_user {
        b"user.".to_vec()
    } else {
        b"system.".to_vec()
    };
    q.extend_from_slice(name);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebsd_list_buffers() {
        // `user` namespace of a file with `md5`, `backup.time` and a name with a space.
        let buf = b"\x03md5\x0bbackup.time\x07my name";
        assert_eq!(
            parse_list(buf),
            Ok(vec![&b"md5"[..], &b"backup.time"[..], &b"my name"[..]])
        );
        assert_eq!(parse_list(b""), Ok(vec![]));
        // The longest name (255 bytes), and raw bytes kept.
        let mut long = vec![255u8];
        long.extend([b'\x1b'; 255]);
        assert_eq!(parse_list(&long).unwrap()[0].len(), 255);
    }

    #[test]
    fn cut_and_empty() {
        assert!(parse_list(b"\x05md5").is_err());
        assert!(parse_list(b"\x03md5\x00").is_err());
        assert_eq!(qualified(true, b"md5"), b"user.md5");
        assert_eq!(
            qualified(false, b"posix1e.acl_access"),
            b"system.posix1e.acl_access"
        );
    }
}
