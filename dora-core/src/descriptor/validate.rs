//! The checks that need the whole dataflow: unique ids, inputs that name
//! existing outputs, well-formed timers and queues, one program per node.
//!
//! Each check reports every problem it finds, at the position of the value
//! it is about, with a hint that says what to do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::module::MODULE_INPUTS;
use super::{Driver, Input, InputSource, Node, OutputRef, QueuePolicy, RestartPolicy, Written};
use crate::diagnostic::Diagnostic;
use crate::id::{id_problem, DataId, MAX_ID_LEN};
use crate::relay;
use crate::suggest::did_you_mean;
use crate::yaml::{Position, Value, ValueKind};

/// Validates the nodes that could be read. `unreadable` holds the ids of
/// nodes that could not be read (their errors are already reported), so
/// that inputs naming them are not reported a second time.
///
/// `written` says what the trees held before they were rewritten to be
/// read, so that messages name keys as written and are not repeated.
pub(super) fn validate(
    nodes: &[(Node, &Value)],
    unreadable: &[String],
    written: &Written,
    base_dir: Option<&Path>,
) -> Vec<Diagnostic> {
    let mut check = Checker {
        diagnostics: Vec::new(),
        nodes: HashMap::new(),
        unreadable: unreadable.iter().map(String::as_str).collect(),
        written,
    };
    check.ids(nodes);
    for (node, tree) in nodes {
        check.node(node, tree, base_dir);
    }
    for (node, tree) in nodes {
        check.inputs_of(node, tree);
    }
    check.diagnostics
}

struct Checker<'a> {
    diagnostics: Vec<Diagnostic>,
    /// Nodes by id (the first one, when an id is repeated).
    nodes: HashMap<&'a str, &'a Node>,
    unreadable: HashSet<&'a str>,
    written: &'a Written,
}

fn quoted_list<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let words: Vec<String> = words.into_iter().map(|w| format!("`{w}`")).collect();
    if words.is_empty() {
        "none".to_owned()
    } else {
        words.join(", ")
    }
}

impl<'a> Checker<'a> {
    fn error(&mut self, position: Position, message: String, hint: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(position, message).with_hint(hint));
    }

    fn id(&mut self, id: &str, position: Position, what: &str) {
        if let Some(problem) = id_problem(id) {
            let hint = if id.len() > MAX_ID_LEN {
                "rename it to a shorter id"
            } else {
                "rename it, for example with `_` in place of other characters"
            };
            self.error(position, format!("bad {what} id: {problem}"), hint);
        }
    }

    /// Node ids are unique and well formed; `dora` is reserved for timers.
    fn ids(&mut self, nodes: &'a [(Node, &Value)]) {
        let mut first_lines = HashMap::new();
        for (node, tree) in nodes {
            let position = tree.value_position("id");
            self.id(node.id.as_str(), position, "node");
            if node.id.as_str() == "dora" {
                self.error(
                    position,
                    "the node id `dora` is reserved for dora's own sources such as timers"
                        .to_owned(),
                    "choose another id",
                );
            }
            match first_lines.get(node.id.as_str()) {
                Some(_) if self.written.within_module && node.id.as_str() == MODULE_INPUTS => self
                    .error(
                        position,
                        format!("in a module, `{MODULE_INPUTS}` names the module's inputs (`{MODULE_INPUTS}/NAME`), so no node may have that id"),
                        "choose another id",
                    ),
                Some(first_line) => self.error(
                    position,
                    format!(
                        "the node id `{}` is used twice (first at line {first_line})",
                        node.id
                    ),
                    "give every node its own id",
                ),
                None => {
                    first_lines.insert(node.id.as_str(), position.line);
                    self.nodes.insert(node.id.as_str(), node);
                }
            }
        }
    }

    fn node(&mut self, node: &Node, tree: &Value, base_dir: Option<&Path>) {
        if self.written.modules.contains(&node.id) {
            // A module's nodes are validated in its own file; here only
            // the inputs wired into it are.
            self.input_ids(&node.inputs, tree);
            return;
        }
        self.program(node, tree, base_dir);
        self.outputs(&node.outputs, tree);
        self.input_ids(&node.inputs, tree);
        for (index, operator) in node.operators.iter().enumerate() {
            let Some(op_tree) = tree.get("operators").and_then(|v| v.item(index)) else {
                continue;
            };
            self.operator(node, operator, op_tree, base_dir);
        }
        let mut seen = HashSet::new();
        for (index, operator) in node.operators.iter().enumerate() {
            let position = tree
                .get("operators")
                .and_then(|v| v.item(index))
                .map_or(tree.position, |t| t.value_position("id"));
            if !seen.insert(operator.id.as_str()) {
                self.error(
                    position,
                    format!(
                        "the operator id `{}` is used twice in node `{}`",
                        operator.id, node.id
                    ),
                    "give every operator of a node its own id",
                );
            }
        }
        self.restart(node, tree);
        self.logging(node, tree);
        self.deploy(node, tree);
        let mut cores = HashSet::new();
        for core in &node.cpu_affinity {
            if !cores.insert(core) {
                self.error(
                    tree.value_position("cpu_affinity"),
                    format!("core {core} is listed twice in `cpu_affinity`"),
                    "list each core once",
                );
            }
        }
    }

    /// A node runs exactly one thing: a program, operators, or an image.
    fn program(&mut self, node: &Node, tree: &Value, base_dir: Option<&Path>) {
        let id = &node.id;
        let operators_key = if self.written.single.contains_key(id) {
            "operator"
        } else {
            "operators"
        };
        match (&node.path, node.is_runtime()) {
            (Some(_), true) => self.error(
                tree.key_position("operators"),
                format!("node `{id}` has both `path` and `{operators_key}`"),
                "a node runs either one program (`path`) or operators; split it into two nodes",
            ),
            // An unknown key reported on its own may already say why (a
            // misspelt `path`, a `hub:` package): one error is enough.
            // A node from `git` without `path` is told so by `git()`.
            (None, false)
                if node.image.is_none()
                    && node.git.is_none()
                    && !self.written.no_program_explained.contains(id) =>
            {
                self.error(
                    tree.position,
                    format!("node `{id}` has nothing to run: it has neither `path` nor `operators`"),
                    "add `path:` with the program to run, or `operators:` to make it a runtime node",
                );
            }
            _ => {}
        }
        if node.is_runtime() && tree.get("args").is_some() {
            self.error(
                tree.key_position("args"),
                format!("runtime node `{id}` has `args`, but its operators run in `dora-runtime`, which takes no arguments"),
                "remove `args`; an operator can read settings from the node's `env`",
            );
        }
        if node.is_runtime() {
            for key in ["inputs", "outputs"] {
                if tree.get(key).is_some() {
                    self.error(
                        tree.key_position(key),
                        format!("runtime node `{id}` has its own `{key}`, but a runtime node's {key} belong to its operators"),
                        format!("move `{key}` into the operator that uses them"),
                    );
                }
            }
        }
        match (node.driver, &node.image) {
            (Driver::Docker, None) => self.error(
                tree.value_position("driver"),
                format!("node `{id}` uses the docker driver but names no image"),
                "add `image:` with the container image to run",
            ),
            (Driver::Process, Some(_)) => self.error(
                tree.key_position("image"),
                format!("node `{id}` names an image but runs as a process"),
                "add `driver: docker` to run it in a container, or remove `image`",
            ),
            (Driver::Docker, Some(_)) if node.is_runtime() => self.error(
                tree.key_position("operators"),
                format!("node `{id}` runs operators in a container, which is not supported"),
                "use `driver: process` for runtime nodes",
            ),
            _ => {}
        }
        self.git(node, tree);
        // A program from a git clone is looked for once it is cloned.
        if let (Some(path), Driver::Process, Some(base), None) =
            (&node.path, node.driver, base_dir, &node.git)
        {
            if node.build.is_none() && !program_exists(path, base) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        tree.value_position("path"),
                        format!("the program `{path}` of node `{id}` does not exist yet"),
                    )
                    .with_hint("build it before running, or add a `build:` command that makes it"),
                );
            }
        }
    }

    /// `git` with at most one of `branch`, `tag` and `rev`, on a node with
    /// a program; those three only with `git`.
    fn git(&mut self, node: &Node, tree: &Value) {
        let id = &node.id;
        let refs: Vec<&str> = ["branch", "tag", "rev"]
            .into_iter()
            .filter(|key| tree.get(key).is_some())
            .collect();
        let Some(url) = &node.git else {
            for key in refs {
                self.error(
                    tree.key_position(key),
                    format!("node `{id}` has `{key}`, which names a commit of its `git` repository, but it has no `git`"),
                    "add `git:` with the repository's URL, or remove it",
                );
            }
            return;
        };
        if let [_, extra, ..] = refs[..] {
            self.error(
                tree.key_position(extra),
                format!(
                    "node `{id}` names its commit twice: {}",
                    refs.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                "keep one of `branch`, `tag` and `rev`",
            );
        }
        if node.path.is_none() {
            self.error(
                tree.key_position("git"),
                format!("node `{id}` comes from `git` but names no program in it"),
                "add `path:` with the program, relative to the repository (and `build:` to make it)",
            );
        }
        if url.trim().is_empty() || url.starts_with('-') {
            self.error(
                tree.value_position("git"),
                format!("`{url}` is not a git repository's URL"),
                "write the URL you would give `git clone`, like `https://example.org/robot.git` or `file:///srv/robot.git`",
            );
        }
        for key in ["branch", "tag", "rev"] {
            let value = match key {
                "branch" => &node.branch,
                "tag" => &node.tag,
                _ => &node.rev,
            };
            if value
                .as_deref()
                .is_some_and(|v| v.trim().is_empty() || v.starts_with('-'))
            {
                self.error(
                    tree.value_position(key),
                    format!("`{key}` of node `{id}` is not a name git knows"),
                    format!("write the {key} as `git` shows it"),
                );
            }
        }
    }

    fn outputs(&mut self, outputs: &[DataId], tree: &Value) {
        let mut seen = HashSet::new();
        for (index, output) in outputs.iter().enumerate() {
            let position = tree
                .get("outputs")
                .and_then(|v| v.item(index))
                .map_or(tree.position, |v| v.position);
            self.id(output.as_str(), position, "output");
            if !seen.insert(output) {
                self.error(
                    position,
                    format!("the output `{output}` is declared twice"),
                    "list each output once",
                );
            }
        }
    }

    fn input_ids(&mut self, inputs: &BTreeMap<DataId, Input>, tree: &Value) {
        let Some(inputs_tree) = tree.get("inputs") else {
            return;
        };
        for id in inputs.keys() {
            let position = inputs_tree.key_position(id.as_str());
            self.id(id.as_str(), position, "input");
        }
    }

    fn operator(
        &mut self,
        node: &Node,
        operator: &super::Operator,
        tree: &Value,
        base_dir: Option<&Path>,
    ) {
        let where_ = format!("operator `{}` of node `{}`", operator.id, node.id);
        self.id(operator.id.as_str(), tree.value_position("id"), "operator");
        match operator.sources().as_slice() {
            [] => self.error(
                tree.position,
                format!("{where_} names nothing to load"),
                "add one of `shared-library:`, `python:` or `c:` with the operator's file",
            ),
            [_] => {}
            [_, second, ..] => self.error(
                tree.key_position(second.key()),
                format!("{where_} names more than one of `shared-library`, `python` and `c`"),
                "keep exactly one of them",
            ),
        }
        if let (Some(source), Some(base)) = (operator.source(), base_dir) {
            if operator.build.is_none()
                && node.build.is_none()
                && !base.join(source.path()).exists()
            {
                self.diagnostics.push(
                    Diagnostic::warning(
                        tree.value_position(source.key()),
                        format!(
                            "the file `{}` of {where_} does not exist yet",
                            source.path()
                        ),
                    )
                    .with_hint("build it before running, or add a `build:` command that makes it"),
                );
            }
        }
        self.outputs(&operator.outputs, tree);
        self.input_ids(&operator.inputs, tree);
        if let Some(output) = &operator.send_stdout_as {
            if !operator.outputs.contains(output) {
                self.error(
                    tree.value_position("send_stdout_as"),
                    format!("`send_stdout_as` of {where_} names `{output}`, which is not one of its outputs"),
                    format!("add `{output}` to its `outputs`"),
                );
            }
        }
    }

    fn restart(&mut self, node: &Node, tree: &Value) {
        if node.restart_delay > node.max_restart_delay {
            self.error(
                tree.value_position("restart_delay"),
                format!("the `restart_delay` of node `{}` ({}) is longer than its `max_restart_delay` ({})", node.id, node.restart_delay, node.max_restart_delay),
                "make `restart_delay` the shorter of the two",
            );
        }
        if node.restart_window.is_some_and(|w| w.as_std().is_zero()) {
            self.error(
                tree.value_position("restart_window"),
                format!("the `restart_window` of node `{}` is zero, so no restart could ever be counted in it", node.id),
                "give the window restarts are counted in, like `5m`, or remove it to count every restart",
            );
        }
        if node
            .health_check_timeout
            .is_some_and(|t| t.as_std().is_zero())
        {
            self.error(
                tree.value_position("health_check_timeout"),
                format!("the `health_check_timeout` of node `{}` is zero, so it would be killed at once", node.id),
                "give how long it may go without taking an event, like `30s`",
            );
        }
        if node.restart_policy != RestartPolicy::Never && node.max_restarts == 0 {
            if let Some(key) = tree.get("max_restarts") {
                self.diagnostics.push(
                    Diagnostic::warning(
                        key.position,
                        format!("node `{}` is never restarted: `max_restarts: 0` allows no restart (in dora-rs, 0 means no limit)", node.id),
                    )
                    .with_hint("write the most restarts you want, like `max_restarts: 1000`, or remove `restart_policy`"),
                );
            }
        }
        if node.restart_policy == RestartPolicy::Never {
            for key in [
                "max_restarts",
                "restart_delay",
                "max_restart_delay",
                "restart_window",
            ] {
                if tree.get(key).is_some() {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            tree.key_position(key),
                            format!(
                                "`{key}` has no effect: node `{}` is never restarted",
                                node.id
                            ),
                        )
                        .with_hint("add `restart_policy: on-failure` or `always`, or remove it"),
                    );
                }
            }
        }
    }

    /// `send_stdout_as` and `send_logs_as` name one of the node's outputs
    /// (of its one operator, for `operator:`); rotation keeps 1 to 100 files.
    fn logging(&mut self, node: &Node, tree: &Value) {
        for key in ["send_stdout_as", "send_logs_as"] {
            let output = match key {
                "send_stdout_as" => &node.send_stdout_as,
                _ => &node.send_logs_as,
            };
            let Some(output) = output else { continue };
            let (declared, operator_outputs): (Vec<&str>, bool) = match node.operators.as_slice() {
                [] => (node.outputs.iter().map(DataId::as_str).collect(), false),
                [operator] => (operator.outputs.iter().map(DataId::as_str).collect(), true),
                _ => {
                    self.error(
                        tree.key_position(key),
                        format!("node `{}` runs several operators, so `{key}` cannot tell whose output it names", node.id),
                        "give the node one operator, or print from a custom node",
                    );
                    continue;
                }
            };
            if !declared.contains(&output.as_str()) {
                let list = if operator_outputs {
                    "its operator's `outputs`"
                } else {
                    "`outputs`"
                };
                self.error(
                    tree.value_position(key),
                    format!(
                        "`{key}` of node `{}` names `{output}`, which is not one of its outputs",
                        node.id
                    ),
                    format!("add `{output}` to {list}"),
                );
            }
        }
        let mut printing = node
            .operators
            .iter()
            .enumerate()
            .filter(|(_, o)| o.send_stdout_as.is_some());
        let first = printing.next();
        let second = printing.next();
        let position = |index: usize| {
            tree.get("operators")
                .and_then(|v| v.item(index))
                .map_or(tree.position, |t| t.key_position("send_stdout_as"))
        };
        if let (Some(_), Some((index, _))) = (node.send_stdout_as.as_ref().and(first), first) {
            self.error(
                position(index),
                format!(
                    "node `{}` has `send_stdout_as` and so has one of its operators",
                    node.id
                ),
                "keep one of them",
            );
        }
        if let Some((index, _)) = second {
            self.error(
                position(index),
                format!("two operators of node `{}` have `send_stdout_as`, but they share one process and what it prints", node.id),
                "keep it on one operator",
            );
        }
        if node.send_stdout_as.is_some() && node.send_stdout_as == node.send_logs_as {
            self.error(
                tree.value_position("send_logs_as"),
                format!(
                    "node `{}` sends its printed lines and its logs on the same output",
                    node.id
                ),
                "give `send_logs_as` an output of its own",
            );
        }
        if node
            .max_rotated_files
            .is_some_and(|n| !(1..=100).contains(&n))
        {
            self.error(
                tree.value_position("max_rotated_files"),
                format!(
                    "the `max_rotated_files` of node `{}` is not between 1 and 100",
                    node.id
                ),
                "keep 1 to 100 rotated files (the default is 5)",
            );
        }
        if node.max_rotated_files.is_some() && node.max_log_size.is_none() {
            self.diagnostics.push(
                Diagnostic::warning(
                    tree.key_position("max_rotated_files"),
                    format!(
                        "`max_rotated_files` has no effect: the log of node `{}` is never rotated",
                        node.id
                    ),
                )
                .with_hint("add `max_log_size`, like `max_log_size: 50MB`"),
            );
        }
        if node.max_log_size.is_some_and(|size| size.bytes() == 0) {
            self.error(
                tree.value_position("max_log_size"),
                format!("the `max_log_size` of node `{}` is 0, so its log would be rotated at every line", node.id),
                "give a size like `50MB`, or remove it to keep one file",
            );
        }
    }

    fn deploy(&mut self, node: &Node, tree: &Value) {
        let Some(selectors) = tree.get("deploy").and_then(|d| d.get("selectors")) else {
            return;
        };
        for (kind, selector) in [
            ("cpu", &node.deploy.selectors.cpu),
            ("gpu", &node.deploy.selectors.gpu),
        ] {
            let Some(selector) = selector else { continue };
            let Some(selector_tree) = selectors.get(kind) else {
                continue;
            };
            crate::selector::check(kind, selector, selector_tree, &mut self.diagnostics);
        }
    }

    /// Every input names an existing output, a well-formed timer, and a
    /// queue that can hold something.
    fn inputs_of(&mut self, node: &Node, tree: &Value) {
        let receiver = format!("node `{}`", node.id);
        self.inputs(&receiver, &node.inputs, tree, false);
        for (index, operator) in node.operators.iter().enumerate() {
            let Some(op_tree) = tree.get("operators").and_then(|v| v.item(index)) else {
                continue;
            };
            let receiver = format!("operator `{}/{}`", node.id, operator.id);
            self.inputs(&receiver, &operator.inputs, op_tree, true);
        }
    }

    fn inputs(
        &mut self,
        receiver: &str,
        inputs: &BTreeMap<DataId, Input>,
        tree: &Value,
        operator: bool,
    ) {
        let Some(inputs_tree) = tree.get("inputs") else {
            return;
        };
        for (id, input) in inputs {
            let Some(input_tree) = inputs_tree.get(id.as_str()) else {
                continue;
            };
            let long = matches!(input_tree.kind, ValueKind::Mapping(_));
            let source_at = if long {
                input_tree.value_position("source")
            } else {
                input_tree.position
            };
            let what = format!("input `{id}` of {receiver}");
            match &input.source {
                InputSource::Timer(timer) => {
                    if timer.period().is_none() {
                        self.error(
                            source_at,
                            format!("the timer `{timer}` of {what} never ticks"),
                            "use a number above 0, like `dora/timer/millis/100`",
                        );
                    }
                    // A node's timers tick inside it and never queue; an
                    // operator's ticks do queue, in the runtime. Dataflows
                    // written for dora-rs give a timer `queue_size: 1`,
                    // which is what a node's timer does anyway: a warning,
                    // so that they still run.
                    for key in ["queue_size", "queue_policy"] {
                        if !operator && input_tree.get(key).is_some() {
                            self.diagnostics.push(
                                Diagnostic::warning(
                                    input_tree.key_position(key),
                                    format!("`{key}` has no effect: {what} is a timer, which ticks inside the node; a node that falls behind gets one tick, never a burst"),
                                )
                                .with_hint(format!("remove `{key}`")),
                            );
                        }
                    }
                }
                InputSource::Output(output) => {
                    self.source(output, &what, source_at);
                    if input.queue_policy == QueuePolicy::Backpressure && self.relayed(output) {
                        self.error(
                            input_tree.value_position("queue_policy"),
                            format!("{what} reads `{output}`, which carries what node `{}` prints or logs, with `backpressure`: a reader that stops would hold up that node's output and the run's end", output.node),
                            "use `drop_oldest` with a `queue_size` that fits a burst; every drop is counted in the summary",
                        );
                    }
                }
                InputSource::Logs(logs) => {
                    if let Some(node) = &logs.node {
                        if !self.nodes.contains_key(node.as_str())
                            && !self.unreadable.contains(node.as_str())
                        {
                            let nodes =
                                self.nodes.keys().copied().filter(|id| *id != MODULE_INPUTS);
                            let hint = match did_you_mean(node.as_str(), nodes.clone()) {
                                Some(best) => {
                                    format!("did you mean `dora/logs/{}/{best}`?", logs.level)
                                }
                                None => format!("the nodes are: {}", quoted_list(sorted(nodes))),
                            };
                            self.error(source_at, format!("{what} reads the logs of node `{node}`, which is not in this dataflow"), hint);
                        }
                    }
                    if operator {
                        self.error(
                            source_at,
                            format!("{what} reads `{logs}`, which nodes' inputs can and operators' cannot"),
                            "read the logs in a custom node",
                        );
                    }
                    if input.queue_policy == QueuePolicy::Backpressure {
                        self.error(
                            input_tree.value_position("queue_policy"),
                            format!("{what} reads `{logs}` with `backpressure`: a reader that stops would hold up every node's output and the run's end"),
                            "use `drop_oldest` with a `queue_size` that fits a burst; every drop is counted in the summary",
                        );
                    }
                }
            }
            if input.queue_size == 0 {
                self.error(
                    input_tree.value_position("queue_size"),
                    format!("{what} has a `queue_size` of 0, so it could never hold a message"),
                    "use 1 or more (the default is 10)",
                );
            }
            match input.deadline {
                Some(_) if !operator => self.error(
                    input_tree.key_position("deadline"),
                    format!("{what} has a `deadline`, but deadlines apply to operator inputs only"),
                    "remove `deadline`, or move the work into an operator",
                ),
                Some(deadline) if deadline.is_zero() => self.error(
                    input_tree.value_position("deadline"),
                    format!("{what} has a deadline of 0, so every event would be late"),
                    "use a positive duration like `5ms`",
                ),
                _ => {}
            }
            match input.input_timeout {
                Some(_) if operator => self.error(
                    input_tree.key_position("input_timeout"),
                    format!("{what} has an `input_timeout`, which nodes' inputs have and operators' do not"),
                    "remove `input_timeout`, or read the input in a node",
                ),
                Some(_) if matches!(input.source, InputSource::Timer(_)) => self.error(
                    input_tree.key_position("input_timeout"),
                    format!("{what} has an `input_timeout`, but it is a timer, which never stops ticking"),
                    "remove `input_timeout`",
                ),
                Some(timeout) if timeout.is_zero() => self.error(
                    input_tree.value_position("input_timeout"),
                    format!("{what} has an `input_timeout` of 0, so it would close after every message"),
                    "give how long the input may stay silent, like `2s`",
                ),
                _ => {}
            }
        }
    }

    /// Whether `output` is sent by the log relay: it is what its node
    /// prints or logs (`send_stdout_as`, `send_logs_as`).
    fn relayed(&self, output: &OutputRef) -> bool {
        let Some(node) = self.nodes.get(output.node.as_str()) else {
            return false;
        };
        let id = DataId::qualified(output.operator.as_ref(), &output.output);
        [relay::printed_output(node), relay::logged_output(node)].contains(&Some(id))
    }

    fn source(&mut self, output: &OutputRef, what: &str, position: Position) {
        let source_id = output.node.as_str();
        let Some(source) = self.nodes.get(source_id).copied() else {
            if self.unreadable.contains(source_id) {
                return;
            }
            let (scope, others) = if self.written.within_module {
                ("module", "; a module's nodes read from each other and from the module's inputs (`_mod/NAME`)")
            } else {
                ("dataflow", "")
            };
            let nodes = self.nodes.keys().copied().filter(|id| *id != MODULE_INPUTS);
            let hint = match did_you_mean(source_id, nodes.clone()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if source_id == MODULE_INPUTS => "`_mod/NAME` names an input of a module, and this is not a module file; read from a node of the dataflow".to_owned(),
                None => format!("the nodes are: {}{others}", quoted_list(sorted(nodes))),
            };
            self.error(
                position,
                format!("{what} reads from node `{source_id}`, which is not in this {scope}"),
                hint,
            );
            return;
        };
        if self.written.opaque.contains(&source.id) {
            // Its module could not be read; that error is reported.
            return;
        }
        if source_id == MODULE_INPUTS && self.written.within_module {
            if !source.outputs.contains(&output.output) || output.operator.is_some() {
                let names = source.outputs.iter().map(DataId::as_str);
                let hint = match did_you_mean(output.output.as_str(), names) {
                    Some(best) => format!("did you mean `_mod/{best}`?"),
                    None => {
                        "declare it under `module:`, in `inputs:` (or `inputs_optional:` when it need not be wired), and wire it where the module is used".to_owned()
                    }
                };
                self.error(
                    position,
                    format!(
                        "{what} reads `{output}`, but the module declares no input `{}`",
                        output.output
                    ),
                    hint,
                );
            }
            return;
        }
        let (outputs, owner) = match (&output.operator, source.is_runtime()) {
            (None, false) if self.written.modules.contains(&source.id) => {
                (&source.outputs, format!("the module of node `{source_id}`"))
            }
            (None, false) => (&source.outputs, format!("node `{source_id}`")),
            (Some(operator_id), true) => {
                let Some(operator) = source.operators.iter().find(|op| op.id == *operator_id)
                else {
                    let names = source.operators.iter().map(|op| op.id.as_str());
                    let hint = match did_you_mean(operator_id.as_str(), names.clone()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("its operators are: {}", quoted_list(names)),
                    };
                    self.error(position, format!("{what} reads from operator `{operator_id}`, which node `{source_id}` does not have"), hint);
                    return;
                };
                (
                    &operator.outputs,
                    format!("operator `{source_id}/{operator_id}`"),
                )
            }
            (None, true) => {
                let having: Vec<String> = source
                    .operators
                    .iter()
                    .filter(|op| op.outputs.contains(&output.output))
                    .map(|op| format!("`{source_id}/{}/{}`", op.id, output.output))
                    .collect();
                let hint = if having.is_empty() {
                    format!(
                        "write `{source_id}/<operator>/{}`; its operators are: {}",
                        output.output,
                        quoted_list(source.operators.iter().map(|op| op.id.as_str()))
                    )
                } else {
                    format!("write {}", having.join(" or "))
                };
                self.error(position, format!("{what} reads `{output}`, but `{source_id}` is a runtime node whose outputs belong to its operators"), hint);
                return;
            }
            (Some(operator_id), false) => {
                self.error(
                    position,
                    format!("{what} reads `{output}`, but node `{source_id}` has no operators (so no operator `{operator_id}`)"),
                    format!("write `{source_id}/{}`", output.output),
                );
                return;
            }
        };
        if !outputs.contains(&output.output) {
            let names = outputs.iter().map(DataId::as_str);
            let hint = match did_you_mean(output.output.as_str(), names.clone()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if outputs.is_empty() => format!(
                    "{owner} declares no outputs; add `{}` to its `outputs:`",
                    output.output
                ),
                None => format!(
                    "{owner} declares {}; add `{}` to its `outputs:` if it sends it",
                    quoted_list(names),
                    output.output
                ),
            };
            self.error(
                position,
                format!(
                    "{what} reads output `{}`, which {owner} does not declare",
                    output.output
                ),
                hint,
            );
        }
    }
}

fn sorted<'a>(words: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut words: Vec<&str> = words.collect();
    words.sort_unstable();
    words
}

/// Whether a node's program can be found: a path with a `/` or a `.py`
/// script relative to the dataflow's folder, or a bare command on `PATH`.
fn program_exists(path: &str, base: &Path) -> bool {
    if path.contains('/') || path.ends_with(".py") {
        return base.join(path).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(path).is_file()))
}
