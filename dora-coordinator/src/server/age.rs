//! Ages and times as `kubectl` shows them: `45s`, `3m`, `5h`, `2d`.

use super::store::now;

/// How long ago `time` (seconds since the Unix epoch) was, shortly.
pub fn age(time: u64) -> String {
    short(now().saturating_sub(time))
}

/// `time` in the past or the future, as a phrase: `3m ago`, `in 2d`.
pub fn ago(time: u64) -> String {
    let now = now();
    if time <= now {
        format!("{} ago", short(now - time))
    } else {
        format!("in {}", short(time - now))
    }
}

fn short(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_are_short() {
        assert_eq!(super::short(5), "5s");
        assert_eq!(super::short(600), "10m");
        assert_eq!(super::short(3 * 3600), "3h");
        assert_eq!(super::short(3 * 86400), "3d");
    }
}
