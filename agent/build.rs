//! Man pages (one for `homeostat`, one per subcommand) and bash, zsh and fish completions,
//! generated from the very `Cli` the binary parses (`src/cli.rs`, compiled in here too), so they
//! cannot drift from it. They land in `$OUT_DIR/{man,completions}`; `ci/deb.sh` packages
//! them from there (cargo prints the directory as `out_dir` in its JSON messages).

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var_os("OUT_DIR").ok_or_else(|| io::Error::other("OUT_DIR unset"))?;
    let out = Path::new(&out);
    let mut cmd = cli::Cli::command();
    cmd.build();
    man_pages(&cmd, &out.join("man"))?;
    completions(&mut cmd, &out.join("completions"))
}

/// `homeostat.1`, then `homeostat-<sub>.1` for each subcommand (git's convention, which
/// clap_mangen's SEE ALSO-free pages follow by name).
fn man_pages(cmd: &clap::Command, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_page(cmd.clone(), &dir.join("homeostat.1"))?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // clap wants a `'static` name; a build script's few pages may leak.
        let name: &'static str = format!("homeostat-{}", sub.get_name()).leak();
        let page = sub.clone().name(name).bin_name(name.replacen('-', " ", 1));
        write_page(page, &dir.join(format!("{name}.1")))?;
    }
    Ok(())
}

fn write_page(cmd: clap::Command, path: &Path) -> io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(concat!("homeostat ", env!("CARGO_PKG_VERSION")))
        .manual("homeostat manual")
        .render(&mut buf)?;
    fs::write(path, buf)
}

/// `homeostat.bash`, `_homeostat` (zsh) and `homeostat.fish`.
fn completions(cmd: &mut clap::Command, dir: &Path) -> io::Result<()> {
    use clap_complete::Shell;
    fs::create_dir_all(dir)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, cmd, "homeostat", dir)?;
    }
    Ok(())
}
