//! Nodes whose program comes from a git repository (`git`, with `branch`,
//! `tag` or `rev`): each repository and commit is cloned once into a cache
//! folder, checked out, and reused by later runs; the node's `build` and
//! `path` start from the clone.

use std::path::{Path, PathBuf};
use std::process::Command;

use dora_core::descriptor::{Dataflow, Node};
use eyre::{bail, eyre, WrapErr};

use super::Out;

/// What to check out of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Commit {
    Branch(String),
    Tag(String),
    Rev(String),
    /// The repository's default branch.
    Default,
}

impl Commit {
    fn of(node: &Node) -> Commit {
        match (&node.branch, &node.tag, &node.rev) {
            (Some(branch), _, _) => Commit::Branch(branch.clone()),
            (_, Some(tag), _) => Commit::Tag(tag.clone()),
            (_, _, Some(rev)) => Commit::Rev(rev.clone()),
            _ => Commit::Default,
        }
    }

    fn describe(&self) -> String {
        match self {
            Commit::Branch(branch) => format!("branch {branch}"),
            Commit::Tag(tag) => format!("tag {tag}"),
            Commit::Rev(rev) => format!("commit {rev}"),
            Commit::Default => "its default branch".to_owned(),
        }
    }

    /// What `git checkout --detach` takes.
    fn target(&self) -> String {
        match self {
            Commit::Branch(branch) => format!("origin/{branch}"),
            Commit::Tag(tag) => format!("refs/tags/{tag}"),
            Commit::Rev(rev) => rev.clone(),
            Commit::Default => "origin/HEAD".to_owned(),
        }
    }
}

/// Where clones are kept: `DORA_GIT_CACHE`, else `$XDG_CACHE_HOME/dora/git`,
/// else `~/.cache/dora/git`.
fn cache_root() -> eyre::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DORA_GIT_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("dora/git"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| eyre!("cannot tell where to keep git clones: set DORA_GIT_CACHE"))?;
    Ok(PathBuf::from(home).join(".cache/dora/git"))
}

/// A stable name for a repository and commit: FNV-1a of both, after the
/// repository's last path segment for people.
fn folder_name(url: &str, commit: &Commit) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in url.bytes().chain([0]).chain(format!("{commit:?}").bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let name: String = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{name}-{hash:016x}")
}

/// Runs `git ARGS` in `dir`; its stdout, or an error with what git said.
fn git(dir: &Path, args: &[&str]) -> eyre::Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => {
                eyre!("git is not installed, and nodes of this dataflow come from git repositories; install git")
            }
            _ => eyre!("cannot run git: {error}"),
        })?;
    if !output.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The folder each node's `build` and `path` start from: its clone for a
/// node from `git` (cloned or brought up to date first), else `dir`, the
/// dataflow's folder.
pub fn node_folders(dataflow: &Dataflow, dir: &Path, out: &Out) -> eyre::Result<Vec<PathBuf>> {
    let mut done: Vec<(String, Commit, PathBuf)> = Vec::new();
    let mut folders = Vec::with_capacity(dataflow.nodes.len());
    for node in &dataflow.nodes {
        let Some(url) = &node.git else {
            folders.push(dir.to_owned());
            continue;
        };
        let commit = Commit::of(node);
        if let Some((_, _, clone)) = done.iter().find(|(u, c, _)| u == url && *c == commit) {
            folders.push(clone.clone());
            continue;
        }
        let clone = checkout(url, &commit, dir, out)
            .wrap_err_with(|| format!("cannot get the program of node `{}` from {url}", node.id))?;
        done.push((url.clone(), commit, clone.clone()));
        folders.push(clone);
    }
    Ok(folders)
}

/// Clones `url` into the cache unless it is there, and checks `commit` out.
fn checkout(url: &str, commit: &Commit, dir: &Path, out: &Out) -> eyre::Result<PathBuf> {
    let root = cache_root()?;
    std::fs::create_dir_all(&root)
        .wrap_err_with(|| format!("cannot create the git cache {}", root.display()))?;
    let clone = root.join(folder_name(url, commit));
    let bold = anstyle::Style::new().bold();
    if clone.join(".git").is_dir() {
        // A branch moves: look for its newest commit. A tag or commit that
        // is there already needs nothing from the network.
        let known = matches!(commit, Commit::Tag(_) | Commit::Rev(_))
            && git(
                &clone,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{}^{{commit}}", commit.target()),
                ],
            )
            .is_ok();
        if !known {
            if let Err(error) = git(&clone, &["fetch", "--quiet", "--tags", "origin"]) {
                out.say(&format!(
                    "warning: cannot update {url} ({error:#}); using the clone in {}",
                    clone.display()
                ));
            }
        }
        out.say(&format!(
            "{bold}git{bold:#} {url} at {}: reusing {}",
            commit.describe(),
            clone.display()
        ));
    } else {
        // Cloned beside its place, then moved there: a clone cut short is
        // never taken for a whole one.
        let partial = root.join(format!(".{}.partial", folder_name(url, commit)));
        let _ = std::fs::remove_dir_all(&partial);
        out.say(&format!(
            "{bold}git{bold:#} {url} at {}: cloning into {}",
            commit.describe(),
            clone.display()
        ));
        // Run from the dataflow's folder, so that a relative URL is its.
        git(
            dir,
            &[
                "clone",
                "--quiet",
                "--",
                url,
                &partial.display().to_string(),
            ],
        )?;
        std::fs::rename(&partial, &clone)
            .wrap_err_with(|| format!("cannot move the clone to {}", clone.display()))?;
    }
    git(
        &clone,
        &["checkout", "--quiet", "--detach", &commit.target()],
    )
    .map_err(|error| eyre!("{} is not in {url}: {error:#}", commit.describe()))?;
    Ok(clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_stable_readable_and_apart() {
        let a = folder_name("https://example.org/robot.git", &Commit::Tag("v1".into()));
        assert_eq!(
            a,
            folder_name("https://example.org/robot.git", &Commit::Tag("v1".into()))
        );
        assert!(a.starts_with("robot-"), "{a}");
        assert_ne!(
            a,
            folder_name("https://example.org/robot.git", &Commit::Rev("v1".into()))
        );
        assert_ne!(
            a,
            folder_name("https://example.org/robots.git", &Commit::Tag("v1".into()))
        );
        assert!(folder_name("file:///srv/a b/../x", &Commit::Default).starts_with("x-"));
    }
}
