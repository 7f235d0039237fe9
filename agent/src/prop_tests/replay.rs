//! `homeostat replay FILE`: whatever lines a file holds (epochs, names and values of any
//! text), the replay learns them or refuses the file with an error naming it, never a
//! panic; an error shows no raw control character.

use std::io;

use homeostat_core::event::Event;
use homeostat_core::feed::Sink;
use proptest::collection::vec;
use proptest::prelude::*;

use super::cases;
use crate::monitor::replay;
use crate::monitor::store::Brain;

/// Counts events; renders nothing.
struct Count(u64);

impl Sink for Count {
    type Error = io::Error;
    fn event(&mut self, _: &Event<'_>) -> io::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn commit(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn line() -> impl Strategy<Value = String> {
    let epoch = prop_oneof![
        (1_704_067_200i64..1_706_745_600).prop_map(|t| t.to_string()),
        any::<i64>().prop_map(|t| t.to_string()),
        "[0-9+-]{0,22}",
    ];
    let name = prop_oneof![
        Just("loadavg".to_owned()),
        Just("users".to_owned()),
        "[a-z_][a-z0-9_]{0,12}",
        "\\PC{0,12}",
        "[a-z\\x00-\\x1f,]{0,6}",
    ];
    let value = prop_oneof![
        any::<f32>().prop_map(|v| v.to_string()),
        (-1e6f32..1e6).prop_map(|v| v.to_string()),
        "(NaN|inf|-inf|1e39|1e16|-0|0x1|)",
        "[0-9.eE+-]{0,12}",
    ];
    prop_oneof![
        8 => (epoch, name, value).prop_map(|(t, n, v)| format!("{t},{n},{v}")),
        1 => Just("# a comment".to_owned()),
        1 => "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn prop_replay_lines_learn_or_refuse(lines in vec(line(), 0..12)) {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("replay.csv");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let mut brain = Brain::fresh(0.6);
        match replay::run(&file, &mut brain, &mut Count(0)) {
            Ok((samples, _)) => prop_assert!(samples as usize <= lines.len()),
            Err(e) => {
                let m = format!("{e:#}");
                prop_assert!(m.contains(&file.display().to_string()), "{}", m);
                prop_assert!(!m.chars().any(char::is_control), "{:?}", m);
            }
        }
    }

    /// Well-formed lines with any epoch (before 1970, far in the future, going back) and
    /// any value the learner holds (finite, within ±1e15): learned, one sample per distinct consecutive epoch.
    #[test]
    fn prop_replay_any_epoch_is_learned(
        lines in vec((
            prop_oneof![any::<i64>(), 1_704_067_200i64..1_704_153_600],
            proptest::sample::select(&["loadavg", "users", "my_app"][..]),
            // Values the learner holds: finite and within ±1e15 (beyond is refused).
            any::<f32>().prop_filter("held", |v| v.is_finite() && v.abs() <= 1e15),
        ), 1..12),
    ) {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("replay.csv");
        let text: Vec<String> = lines.iter().map(|(t, n, v)| format!("{t},{n},{v}")).collect();
        std::fs::write(&file, text.join("\n")).unwrap();
        let mut brain = Brain::fresh(0.6);
        let mut sink = Count(0);
        let (samples, _) = replay::run(&file, &mut brain, &mut sink).expect("well-formed lines");
        let distinct = 1 + lines.windows(2).filter(|w| w[0].0 != w[1].0).count();
        prop_assert_eq!(samples as usize, distinct);
    }
}
