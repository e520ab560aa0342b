"""The Snakemake workflow's logic, kept here so that it can be tested without Snakemake.

The `Snakefile` and `rules/*.smk` only declare rules and call these modules:

- `layout`: where every file lives, and the wildcards naming them;
- `grid`: threshold labels, slices and leaves expanded from the config, and the targets;
- `arguments`: a leaf's `hwevrsnas search` arguments and input files;
- `checks`: the config checks the schema cannot express (run at parse time);
- `steps`: the bodies of the `script:` rules;
- `evidence`: the pages of docs/ that `make evidence` writes, and their inputs;
- `leaf_pool`: the warm worker processes that run the search leaves (a search and its check) of a local run.

Importing this package does not import torch (the Snakefile imports it at parse time).
"""

from hwevrsnas.workflow.arguments import (
    batch_file, batch_seed, check_args, full_fidelity_targets, ga_settings, preset_identity, preset_of, proxy_seed,
    proxy_seeds, score_build_args, score_proxies, score_shards, score_table, score_table_seeds, search_args,
    search_command_args, search_inputs, uses_score_table,
)  # fmt: skip
from hwevrsnas.workflow.checks import (
    ConfigError, check_config, from_command_line, locate_served_table, threshold_errors, unknown_key_message,
)  # fmt: skip
from hwevrsnas.workflow.grid import (
    Leaf, Slice, aggregate_plots, aggregate_tables, check_targets, energy_settings, entry_methods, expand_grid,
    parse_threshold_label, presets_used, run_targets, slice_inputs, slice_of, slice_targets, slices, study_enabled,
    study_outputs, template_regex, threshold_cli_args, threshold_label, threshold_labels, threshold_targets, uses_proxy,
)  # fmt: skip
from hwevrsnas.workflow.layout import *  # noqa: F403 (the paths and wildcards the rules use)
from hwevrsnas.workflow.evidence import *  # noqa: F403 (the pages of docs/ that rules/evidence.smk writes)
from hwevrsnas.errors import UserError
from hwevrsnas.plugins import use_plugins
from hwevrsnas.workflow.leaf_pool import LeafFailed, run_search_and_check
from hwevrsnas.workflow.steps import pins_digest, script_logging
