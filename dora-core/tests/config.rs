//! The configuration every node is started with, derived from a dataflow.

use dora_core::config::{NodeConfig, NodeConfigError, ReceiverLink, ENV_VAR};
use dora_core::descriptor::{Dataflow, QueuePolicy};

fn dataflow() -> Dataflow {
    Dataflow::from_yaml_str(
        "nodes:
  - id: camera
    path: camera
    inputs: { tick: dora/timer/hz/30 }
    outputs: [image]
  - id: runtime
    operators:
      - id: detector
        python: detector.py
        inputs:
          image: { source: camera/image, queue_size: 2, queue_policy: backpressure, deadline: 5ms }
        outputs: [boxes]
  - id: viewer
    path: viewer
    inputs:
      image: camera/image
      boxes: runtime/detector/boxes
",
    )
    .unwrap()
}

#[test]
fn outputs_list_every_receiver_with_its_queue() {
    let configs = NodeConfig::for_dataflow(&dataflow(), "run-7");
    let image = &configs["camera"].outputs["image"];
    assert_eq!(image.channel, "dora/run-7/camera/out/image");
    let receivers: Vec<(&str, &str, &str, usize, QueuePolicy)> = image
        .receivers
        .iter()
        .map(|r| {
            (
                r.node.as_str(),
                r.input.as_str(),
                match &r.link {
                    ReceiverLink::Local { wakeup } => wakeup.as_str(),
                    ReceiverLink::Remote { .. } => "remote",
                },
                r.queue_size,
                r.queue_policy,
            )
        })
        .collect();
    assert_eq!(
        receivers,
        [
            (
                "runtime",
                "detector/image",
                "dora/run-7/runtime/wakeup",
                2,
                QueuePolicy::Backpressure
            ),
            (
                "viewer",
                "image",
                "dora/run-7/viewer/wakeup",
                10,
                QueuePolicy::DropOldest
            ),
        ]
    );
}

#[test]
fn operator_data_is_named_operator_slash_id() {
    let configs = NodeConfig::for_dataflow(&dataflow(), "run-7");
    let runtime = &configs["runtime"];
    assert_eq!(
        runtime.outputs["detector/boxes"].channel,
        "dora/run-7/runtime/out/detector/boxes"
    );
    let input = &runtime.inputs["detector/image"];
    assert_eq!(
        input.deadline.map(|d| d.to_string()).as_deref(),
        Some("5ms")
    );
    let viewer = &configs["viewer"];
    assert_eq!(
        viewer.inputs["boxes"].channel.as_deref(),
        Some("dora/run-7/runtime/out/detector/boxes")
    );
}

#[test]
fn timers_have_no_channel_and_every_node_knows_the_others() {
    let configs = NodeConfig::for_dataflow(&dataflow(), "run-7");
    let camera = &configs["camera"];
    assert_eq!(camera.inputs["tick"].channel, None);
    assert_eq!(camera.nodes.len(), 3);
    assert_eq!(camera.control, "dora/run-7/camera/control");
}

#[test]
fn the_environment_carries_the_config_and_says_how_to_start_a_node() {
    let configs = NodeConfig::for_dataflow(&dataflow(), "run-7");
    let viewer = &configs["viewer"];
    // The only test of this binary that touches the environment.
    std::env::remove_var(ENV_VAR);
    let error = NodeConfig::from_env().unwrap_err();
    assert!(matches!(error, NodeConfigError::NotStartedByDora));
    assert!(
        error.to_string().contains("dora run <dataflow.yml>"),
        "{error}"
    );
    std::env::set_var(ENV_VAR, "{not json");
    assert!(matches!(
        NodeConfig::from_env(),
        Err(NodeConfigError::Invalid(_))
    ));
    std::env::set_var(ENV_VAR, viewer.to_env_value());
    assert_eq!(&NodeConfig::from_env().unwrap(), viewer);
    // A large configuration comes in a file.
    let file = std::env::temp_dir().join(format!("dora-config-{}.json", std::process::id()));
    std::fs::write(&file, viewer.to_env_value()).unwrap();
    std::env::set_var(ENV_VAR, format!("@{}", file.display()));
    assert_eq!(&NodeConfig::from_env().unwrap(), viewer);
    std::fs::remove_file(&file).unwrap();
    let error = NodeConfig::from_env().unwrap_err();
    assert!(
        error.to_string().contains(&file.display().to_string()),
        "{error}"
    );
}

#[test]
fn sender_and_receivers_agree_on_the_channel_settings() {
    let configs = NodeConfig::for_dataflow(&dataflow(), "run-7");
    let image = &configs["camera"].outputs["image"];
    assert_eq!(image.settings.receivers, 2);
    assert_eq!(image.settings.queue_size, 10);
    assert!(
        image.settings.backpressure,
        "one reader asked for backpressure"
    );
    assert_eq!(
        configs["viewer"].inputs["image"].settings,
        Some(image.settings)
    );
    assert_eq!(configs["camera"].inputs["tick"].settings, None);
}
