//! `--help` text of the run options: a one-line description with its unit for every
//! RunConfig option, grouped under headings, and list defaults written with commas as the
//! README and the flags take them (`0.5,1,1.5`, not clap's `0.5 1 1.5`).
//!
//! The descriptions live here, applied to the built command, so the option names stay the
//! original's and RunConfig's fields keep their place; `tests/cli.rs` checks that every
//! option of `pads train` has a description and a heading.
use clap::Command;

pub const RUN: &str = "Run";
pub const DATA: &str = "Data";
pub const MODEL: &str = "Model";
pub const OPTIMISATION: &str = "Optimisation";
pub const SAMPLING: &str = "Sampling";
pub const PADS_POLICY: &str = "PADS policy (see docs/pads.md)";
pub const EVALUATION: &str = "Evaluation";

/// (option id = RunConfig field, heading, one-line description with unit).
pub const RUN_OPTIONS: &[(&str, &str, &str)] = &[
    // ---- data ----
    ("dataset", DATA, "Dataset layout under --data-root: cub200, cars196, online_products (the paper's), in_shop (query/gallery), folder (<root>/<class>/<image>), synthetic (pads synth)"),
    ("data_root", DATA, "Folder holding the dataset folder (cub200/, cars196/, online_products/, in_shop/, synthetic/); for folder, the class folders [path]"),
    ("test_root", DATA, "folder layout only: a separate folder of test classes [path; unset: split by --folder-test-share]"),
    ("folder_test_share", DATA, "folder layout only: share of the classes (the last by name) used for test [fraction, 0-1]"),
    ("train_val_split", DATA, "Share of the training images kept for training; the rest is the validation split PADS is rewarded on [fraction, 0-1; 1 = none]"),
    ("train_val_split_by_class", DATA, "Take the validation split as whole classes instead of images of every class [true/false]"),
    ("val_split_all_samplers", DATA, "Hold out the validation split for every sampler (the original: only PADS has one) [true/false]"),
    ("val_split_random", DATA, "Draw the validation split at random with the seed instead of the original's evenly spaced images / last classes [true/false]"),
    ("image_size", DATA, "Side of the square network input [pixels]"),
    ("cache_images", DATA, "Keep decoded images in RAM after their first use: off by default, except the synthetic dataset (always cached); `pads data check` prints the RAM they take [true/false]"),
    ("skip_bad_images", DATA, "Turn a missing, empty, truncated or non-image file into a counted warning instead of an error [true/false]"),
    ("num_workers", DATA, "Image decoding and augmentation threads [threads; 0 = one per core]"),
    // ---- model ----
    ("arch", MODEL, "Backbone: resnet50 (the paper's, frozen BatchNorm) or small (a small CNN for CPU runs and tests)"),
    ("embed_dim", MODEL, "Size of the embedding [dimensions]"),
    ("pretrained", MODEL, "torchvision ImageNet weights for resnet50, .pth or .safetensors [path]"),
    ("not_pretrained", MODEL, "Start resnet50 from random weights instead of --pretrained [true/false]"),
    ("amp", MODEL, "Mixed precision of the backbone: off or bf16 (head, distances, loss and metrics stay float32)"),
    // ---- optimisation ----
    ("n_epochs", OPTIMISATION, "Length of training [epochs]"),
    ("lr", OPTIMISATION, "Learning rate of the network (Adam) [per step]"),
    ("decay", OPTIMISATION, "L2 weight decay, added to the gradient as torch.optim.Adam does [per step]"),
    ("tau", OPTIMISATION, "Epochs after which the learning rate is multiplied by --gamma [epochs, comma-separated]"),
    ("gamma", OPTIMISATION, "Learning-rate factor applied at each --tau epoch [factor]"),
    ("loss", OPTIMISATION, "Objective: margin (learnable per-class beta, the paper's) or triplet"),
    ("margin", OPTIMISATION, "Margin of the margin or triplet loss [distance between unit-length embeddings, 0-2]"),
    ("beta", OPTIMISATION, "Initial per-class beta of the margin loss [distance, 0-2]"),
    ("beta_lr", OPTIMISATION, "Learning rate of beta (Adam) [per step]"),
    ("beta_constant", OPTIMISATION, "Keep beta fixed at --beta [true/false]"),
    // ---- sampling ----
    ("sampling", SAMPLING, "Negative sampler: random, semihard, softhard, distance (distance-weighted) or pads (policy-adapted; alias learned)"),
    ("bs", SAMPLING, "Batch size [images]"),
    ("batch_without_replacement", SAMPLING, "Draw a group's images of one class without replacement (the original draws with replacement) [true/false]"),
    ("samples_per_class", SAMPLING, "Images of each class drawn together into a batch [images]"),
    // ---- evaluation ----
    ("select_on", EVALUATION, "Which epoch checkpoint_best keeps: highest test Recall@1 (test, the original's rule) or validation Recall@1 (val) [test|val]"),
    ("skip_lone_queries", EVALUATION, "Leave queries whose class has no other item out of Recall@k (pytorch-metric-learning's rule) instead of counting them as misses (the original's) [true/false]"),
    ("kmeans_plusplus", EVALUATION, "Seed the k-means behind NMI and F1 with k-means++ instead of the original's k random points [true/false]"),
    ("k_vals", EVALUATION, "Recall@k values [k, comma-separated; unset: 1,2,4,8; 1,10,100,1000 for online_products; 1,10,20,30,40,50 for in_shop]"),
    ("eval_every", EVALUATION, "Evaluate the test split every this many epochs, and after the last [epochs]"),
    // ---- run ----
    ("device", RUN, "Where to train: cpu, cuda, cuda:N or auto (cuda when available)"),
    ("seed", RUN, "Seed of every random choice: weights, validation split, batches, augmentation, sampler [integer]"),
    // ---- PADS ----
    ("policy_n_support", PADS_POLICY, "Support points of the sampling distribution; it has one bin fewer [points]"),
    ("policy_support_limit", PADS_POLICY, "Distance range LOW,HIGH the bins cover [distance between unit-length embeddings, 0-2]"),
    ("policy_init_distr", PADS_POLICY, "Initial sampling distribution (uniform_low = weight on distances 0.3-0.7; see docs/pads.md)"),
    ("policy_merge_oobs", PADS_POLICY, "Distances outside the support fall into the edge bins; off: probability 0 [true/false]"),
    ("policy_include_pos", PADS_POLICY, "Draw negatives over the whole batch, the anchor's class included (self-regularisation) [true/false]"),
    ("policy_include_same", PADS_POLICY, "The anchor may be drawn as its own positive [true/false]"),
    ("policy_no_self_reg", PADS_POLICY, "Turn --policy-include-pos, --policy-include-same and --policy-merge-oobs off [true/false]"),
    ("policy_sample_freq", PADS_POLICY, "Training iterations between two policy updates (M in the paper) [iterations]"),
    ("policy_training_delay", PADS_POLICY, "Epochs trained on the initial distribution before the policy acts [epochs]"),
    ("policy_reward_type", PADS_POLICY, "Validation metric whose change is the reward: 0 = NMI, 1 = Recall@1, 2 = their mean"),
    ("policy_state_metrics", PADS_POLICY, "Validation metrics in the policy's state: recall, dists, nmi [comma-separated]"),
    ("policy_metric_history", PADS_POLICY, "Past validation metric vectors in the state [policy updates]"),
    ("policy_run_avgs", PADS_POLICY, "Windows of the running means of the metrics added to the state [policy updates, comma-separated]"),
    ("policy_parameter_history", PADS_POLICY, "Past distributions in the state [policy updates]"),
    ("policy_size", PADS_POLICY, "Hidden layer widths of the policy network [units, comma-separated]"),
    ("policy_dont_use_a2c", PADS_POLICY, "Advantage against an EMA of the rewards instead of the A2C value head [true/false]"),
    ("policy_action_values", PADS_POLICY, "The three multipliers a bin's weight may get: reduce, keep, increase [factors, comma-separated]"),
    ("policy_lr", PADS_POLICY, "Learning rate of the policy (Adam) [per policy update]"),
    ("policy_baseline_ema_gamma", PADS_POLICY, "Smoothing of the EMA reward baseline (with --policy-dont-use-a2c) [weight, 0-1]"),
    ("policy_reward_update_w", PADS_POLICY, "Discount w of the A2C target r + w V(s) [weight, 0-1]"),
    ("policy_mode", PADS_POLICY, "Policy update: reinforce or ppo (clipped ratio to an old policy)"),
    ("policy_ppo_ratio", PADS_POLICY, "PPO clipping epsilon of the probability ratio [ratio]"),
    ("policy_old_update_iter", PADS_POLICY, "PPO: refresh the old policy every this many policy updates [policy updates]"),
];

/// The order of the headings in `--help` (arguments without a heading come first).
pub const HEADING_ORDER: [&str; 7] = [RUN, DATA, MODEL, OPTIMISATION, SAMPLING, PADS_POLICY, EVALUATION];

/// Sets the heading and description of every RunConfig option of `cmd`, when `cmd` flattens
/// RunConfig (train, sweep, data check, bench loader; other commands are returned as they
/// are), and orders the headings as `HEADING_ORDER`.
pub fn describe_run_options(mut cmd: Command) -> Command {
    let has = |cmd: &Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
    if !(has(&cmd, "policy_sample_freq") && has(&cmd, "dataset")) {
        return cmd;
    }
    for &(id, heading, help) in RUN_OPTIONS {
        if has(&cmd, id) {
            cmd = cmd.mut_arg(id, |a| a.help_heading(heading).help(help).long_help(None::<&str>));
        }
    }
    // clap lists the headings in the order their first argument appears: re-append the
    // arguments heading by heading (each keeps its display order inside its heading).
    let rank = |h: Option<&str>| h.map_or(0, |h| 1 + HEADING_ORDER.iter().position(|o| *o == h).unwrap_or(HEADING_ORDER.len()));
    let mut order: Vec<(usize, usize, String)> =
        cmd.get_arguments().map(|a| (rank(a.get_help_heading()), a.get_display_order(), a.get_id().to_string())).collect();
    order.sort();
    for (_, _, id) in order {
        cmd = cmd.mut_arg(id.as_str(), |a| a);
    }
    cmd
}

/// Shows every list option's default with commas (`[default: 0.5,1,1.5]`), as it is typed,
/// in `cmd` and all its subcommands.
pub fn comma_defaults(mut cmd: Command) -> Command {
    let lists: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| a.get_value_delimiter() == Some(',') && a.get_default_values().len() > 1)
        .map(|a| {
            let values: Vec<String> = a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            (a.get_id().to_string(), values.join(","))
        })
        .collect();
    for (id, default) in lists {
        cmd = cmd.mut_arg(id.as_str(), |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let long = a.get_long_help().map(|h| h.to_string());
            let long = long.unwrap_or_else(|| help.clone());
            a.hide_default_value(true).help(format!("{help} [default: {default}]")).long_help(format!("{long}\n\n[default: {default}]"))
        });
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name.as_str(), comma_defaults);
    }
    cmd
}

/// The whole `pads` command with the run options described (train, sweep, data check,
/// bench loader) and list defaults with commas.
pub fn describe(cmd: Command) -> Command {
    fn walk(mut cmd: Command) -> Command {
        cmd = describe_run_options(cmd);
        let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
        for name in names {
            cmd = cmd.mut_subcommand(name.as_str(), walk);
        }
        cmd
    }
    comma_defaults(walk(cmd))
}
