//! Property tests of the `rpm -qa --qf` output parser: arbitrary and mutated output never
//! panics, every line is a package, a file or a named problem, and the files of
//! well-formed output are owned by their package.

use super::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// A package line and its file lines, as the query format writes them.
fn package() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        "[a-z][a-z0-9+.-]{0,12}",
        "(noarch|x86_64)",
        "[0-9]{1,2}",
        "[0-9][0-9a-z.~^-]{0,10}",
        vec(
            (
                "/[a-z/ ]{1,20}",
                "[0-9a-f]{64}|",
                proptest::sample::select(&[0o100644u32, 0o40755, 0o120777, 0o10644, 0o20600][..]),
            ),
            0..4,
        ),
    )
        .prop_map(|(name, arch, epoch, vr, files)| {
            let p = format!("P\t{name}\t{arch}\t{epoch}\t{vr}\t100\t8");
            let f = files
                .into_iter()
                .map(|(path, d, mode)| format!("F\t{path}\t{d}\t{mode}\troot\troot\t0\tt"))
                .collect();
            (p, f)
        })
}

fn parse(out: &[u8]) -> Rpm {
    let none = HashMap::new();
    Rpm::parse(out, &none, &none, Path::new("rpm -qa"))
}

proptest! {
    /// Well-formed output: no problem, and every file has its package among its owners.
    #[test]
    fn prop_rpm_wellformed_output_is_read_whole(pkgs in vec(package(), 0..5)) {
        let mut out = String::new();
        for (p, files) in &pkgs {
            out.push_str(p);
            out.push('\n');
            for f in files {
                out.push_str(f);
                out.push('\n');
            }
        }
        let mut r = parse(out.as_bytes());
        prop_assert_eq!(r.take_problems(), Vec::new());
        for (p, files) in &pkgs {
            let w: Vec<&str> = p.split('\t').collect();
            let id = r.by_name(w[1], w[2]);
            prop_assert!(id.is_some());
            for f in files {
                let path = f.split('\t').nth(1).unwrap();
                prop_assert!(r.owners(path.as_bytes()).any(|o| Some(o) == id), "{}", path);
            }
        }
    }

    /// Arbitrary bytes, or well-formed output with bytes flipped, cut or inserted: never
    /// a panic, and no more problems than lines.
    #[test]
    fn prop_rpm_output_never_panics(
        pkgs in vec(package(), 0..4),
        edits in vec((any::<usize>(), prop_oneof![Just(b'\t'), Just(b'\n'), Just(0xc3), any::<u8>()]), 0..6),
        cut in any::<usize>(),
        noise in vec(any::<u8>(), 0..100),
    ) {
        let mut out: Vec<u8> = Vec::new();
        for (p, files) in &pkgs {
            out.extend_from_slice(p.as_bytes());
            out.push(b'\n');
            for f in files {
                out.extend_from_slice(f.as_bytes());
                out.push(b'\n');
            }
        }
        for (at, b) in edits {
            let i = at % (out.len() + 1);
            out.insert(i, b);
        }
        out.truncate(cut % (out.len() + 1));
        out.extend_from_slice(&noise);
        let mut r = parse(&out);
        let lines = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
        prop_assert!(r.take_problems().len() <= lines);
    }
}
