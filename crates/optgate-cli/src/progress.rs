//! The progress bar on stderr.

use std::io::{self, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// When to draw the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Only when stderr is a terminal.
    Auto,
    Always,
    Never,
}

/// stderr driven with ANSI sequences whether or not it is a terminal, for `--progress always`.
#[derive(Debug)]
struct ForcedStderr;

impl TermLike for ForcedStderr {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            write!(io::stderr(), "\x1b[{n}A")?;
        }
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            write!(io::stderr(), "\x1b[{n}B")?;
        }
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            write!(io::stderr(), "\x1b[{n}C")?;
        }
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            write!(io::stderr(), "\x1b[{n}D")?;
        }
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        writeln!(io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        write!(io::stderr(), "{s}")
    }
    fn clear_line(&self) -> io::Result<()> {
        write!(io::stderr(), "\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// A bar counting posts, drawn on stderr according to `mode`.
pub fn posts_bar(mode: ProgressMode, total: u64) -> ProgressBar {
    let target = match mode {
        // indicatif hides a stderr target by itself when stderr is not a terminal.
        ProgressMode::Auto => ProgressDrawTarget::stderr(),
        ProgressMode::Always => ProgressDrawTarget::term_like(Box::new(ForcedStderr)),
        ProgressMode::Never => ProgressDrawTarget::hidden(),
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {human_pos}/{human_len} posts ({rate}, eta {eta})",
        )
        .expect("the progress template is valid")
        // indicatif's {per_sec} prints every digit (`1,862,796.7131/s`).
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate(state.per_sec()));
            },
        ),
    );
    bar
}

/// Posts per second, rounded to what a person reads: `1.86 M posts/s`,
/// `412 k posts/s`, `950 posts/s`.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        return "- posts/s".to_owned();
    }
    if per_sec >= 1e6 {
        format!("{:.2} M posts/s", per_sec / 1e6)
    } else if per_sec >= 1e4 {
        format!("{:.0} k posts/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} posts/s")
    }
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_are_rounded() {
        assert_eq!(rate(1_862_796.713_1), "1.86 M posts/s");
        assert_eq!(rate(412_345.6), "412 k posts/s");
        assert_eq!(rate(950.4), "950 posts/s");
        assert_eq!(rate(f64::NAN), "- posts/s");
    }
}
