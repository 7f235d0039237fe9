use super::*;

fn starts(prefix: &'static str) -> impl Fn(&str) -> bool {
    move |s: &str| s.starts_with(prefix)
}

type F = fn(&str) -> bool;
type Dyn<'a> = &'a dyn Fn(&str) -> bool;
type Case<'a> = (&'a str, Select<'a, Dyn<'a>>, [bool; 5]);

fn table() -> [ProcessInfo<'static>; 5] {
    let base = ProcessInfo {
        pid: 1,
        ppid: 0,
        pgid: 1,
        uid: 0,
        owner: "root",
        command: "/sbin/init",
        vsize: 20_000,
        rss: 10_000,
        ttime: 5,
        stime: 1_700_000_000,
        status: "S",
        tty: "?",
        priority: 0,
        threads: 1,
    };
    [
        base,
        ProcessInfo {
            pid: 700,
            ppid: 1,
            pgid: 700,
            uid: 65534,
            owner: "nobody",
            command: "sleep 300",
            vsize: 5_000,
            rss: 900,
            ttime: 0,
            stime: 1_700_000_500,
            tty: "pts/0",
            ..base
        },
        ProcessInfo {
            pid: 42,
            ppid: 1,
            pgid: 42,
            uid: 1000,
            owner: "",
            command: "[kworker/0:1]",
            vsize: 0,
            rss: 0,
            status: "I",
            ..base
        },
        ProcessInfo {
            pid: 900,
            ppid: 700,
            pgid: 700,
            uid: 0,
            owner: "root",
            command: "sleep",
            status: "R",
            priority: 10,
            threads: 4,
            ttime: 3600,
            ..base
        },
        ProcessInfo {
            pid: 5,
            owner: "root",
            command: "/usr/sbin/sshd -D",
            threads: 2,
            ..base
        },
    ]
}

fn selected<M: Matcher>(s: &Select<'_, M>) -> [bool; 5] {
    table().map(|p| s.matches(&p).unwrap())
}

#[test]
fn no_criteria_selects_everything() {
    let s: Select<'_, F> = Select::default();
    assert_eq!(selected(&s), [true; 5]);
    assert_eq!(s.given(), 0);
}

#[test]
fn criteria_alone_are_anded() {
    let sleep = |s: &str| s == "sleep" || s.starts_with("sleep ");
    let nobody = [Owner::Name("nobody")];
    let root_uid = [Owner::Uid(0), Owner::Uid(1000)];
    let status_r = |s: &str| s == "R";
    let tty_pts = starts("pts/");
    let cases: [Case<'_>; 14] = [
        (
            "command",
            Select {
                command: Some(&(&sleep as &dyn Fn(&str) -> bool)),
                ..Select::default()
            },
            [false, true, false, true, false],
        ),
        (
            "owner name",
            Select {
                owner: &nobody,
                ..Select::default()
            },
            [false, true, false, false, false],
        ),
        (
            "owner uid",
            Select {
                owner: &root_uid,
                ..Select::default()
            },
            [true, false, true, true, true],
        ),
        (
            "command.owner",
            Select {
                command: Some(&(&sleep as &dyn Fn(&str) -> bool)),
                owner: &nobody,
                ..Select::default()
            },
            [false, true, false, false, false],
        ),
        (
            "pid",
            Select {
                pid: Some(Range::new(2, 700)),
                ..Select::default()
            },
            [false, true, true, false, true],
        ),
        (
            "ppid",
            Select {
                ppid: Some(Range::new(700, 700)),
                ..Select::default()
            },
            [false, false, false, true, false],
        ),
        (
            "pgid",
            Select {
                pgid: Some(Range::new(700, 700)),
                ..Select::default()
            },
            [false, true, false, true, false],
        ),
        (
            "vsize",
            Select {
                vsize: Some(Range::new(1, 10_000)),
                ..Select::default()
            },
            [false, true, false, false, false],
        ),
        (
            "rss",
            Select {
                rss: Some(Range::new(0, 1000)),
                ..Select::default()
            },
            [false, true, true, false, false],
        ),
        (
            "ttime",
            Select {
                ttime: Some(Range::new(60, u64::MAX)),
                ..Select::default()
            },
            [false, false, false, true, false],
        ),
        (
            "stime",
            Select {
                stime: Some(Range::new(1_700_000_100, u64::MAX)),
                ..Select::default()
            },
            [false, true, false, false, false],
        ),
        (
            "status",
            Select {
                status: Some(&(&status_r as &dyn Fn(&str) -> bool)),
                ..Select::default()
            },
            [false, false, false, true, false],
        ),
        (
            "tty",
            Select {
                tty: Some(&(&tty_pts as &dyn Fn(&str) -> bool)),
                ..Select::default()
            },
            [false, true, false, false, false],
        ),
        (
            "priority+threads",
            Select {
                priority: Some(Range::new(5, 19)),
                threads: Some(Range::new(2, 8)),
                ..Select::default()
            },
            [false, false, false, true, false],
        ),
    ];
    for (what, s, want) in cases {
        assert_eq!(selected(&s), want, "{what}");
    }
}

#[test]
fn process_result_combines_tokens() {
    let sleep: &dyn Fn(&str) -> bool = &|s: &str| s.starts_with("sleep");
    let nobody = [Owner::Name("nobody")];
    let base = Select {
        command: Some(&sleep),
        owner: &nobody,
        threads: Some(Range::new(2, 100)),
        ..Select::default()
    };
    let cases: [(&str, [bool; 5]); 9] = [
        ("command.owner", [false, true, false, false, false]),
        ("command|owner", [false, true, false, true, false]),
        ("command.!owner", [false, false, false, true, false]),
        ("!command", [true, false, true, false, true]),
        ("threads|owner", [false, true, false, true, true]),
        ("process_owner", [false, true, false, false, false]),
        // a criterion not given never defines its token
        ("pid", [false; 5]),
        ("command&(threads|owner)", [false, true, false, true, false]),
        ("true", [true; 5]),
    ];
    for (e, want) in cases {
        let s = Select {
            result: Some(e),
            ..base
        };
        assert_eq!(selected(&s), want, "{e}");
    }
}

#[test]
fn tokens_report_each_criterion() {
    let sleep: &dyn Fn(&str) -> bool = &|s: &str| s.starts_with("sleep");
    let s = Select {
        command: Some(&sleep),
        pid: Some(Range::new(0, 800)),
        ..Select::default()
    };
    let t = table();
    assert_eq!(s.tokens(&t[1]), 0b110);
    assert_eq!(s.tokens(&t[3]), 0b010);
    assert_eq!(s.given(), 0b110);
}

#[test]
fn bad_result_is_an_error_with_an_offset() {
    let s: Select<'_, F> = Select {
        result: Some("command.(owner"),
        ..Select::default()
    };
    let e = count(&s, Range::new(0, 0), table().iter()).unwrap_err();
    assert_eq!(e.offset, 8);
    assert_eq!(unknown_token("command.ownr|pid"), Some((8, "ownr")));
    assert_eq!(unknown_token("!(command.owner)|rsize|true"), None);
}

#[test]
fn count_and_range() {
    let sleep: &dyn Fn(&str) -> bool = &|s: &str| s.starts_with("sleep");
    let s = Select {
        command: Some(&sleep),
        ..Select::default()
    };
    let t = table();
    let c = count(&s, Range::new(0, 0), t.iter()).unwrap();
    assert_eq!((c.count, c.in_range), (2, false));
    assert_eq!(c.pids.as_slice(), &[700, 900]);
    let c = count(&s, Range::new(1, 2), t.iter()).unwrap();
    assert!(c.in_range);
    let none: &dyn Fn(&str) -> bool = &|_: &str| false;
    let s = Select {
        command: Some(&none),
        ..Select::default()
    };
    let c = count(&s, Range::new(0, 0), t.iter()).unwrap();
    assert_eq!((c.count, c.in_range, c.pids.as_slice()), (0, true, &[][..]));
}

#[test]
fn pids_keep_the_lowest_32_ascending() {
    let mut p = Pids::default();
    for pid in (1..=100u32).rev().chain([50, 3, 3]) {
        p.insert(pid);
    }
    let want: [u32; 32] = core::array::from_fn(|i| i as u32 + 1);
    assert_eq!(p.as_slice(), &want);
    let mut p = Pids::default();
    for pid in [9, 1, 5] {
        p.insert(pid);
    }
    assert_eq!(p.as_slice(), &[1, 5, 9]);
}

#[test]
fn class_names() {
    let mut buf = [0u8; 64];
    assert_eq!(class_name("rogue", true, &mut buf), Some("rogue_in_range"));
    assert_eq!(
        class_name("rogue", false, &mut buf),
        Some("rogue_out_of_range")
    );
    assert_eq!(class_name("rogue", false, &mut [0u8; 8]), None);
}
