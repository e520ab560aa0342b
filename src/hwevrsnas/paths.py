"""Default locations of derived files, relative to the working directory (the workflow uses the same layout)."""

SOURCES_DIR = "resources/sources"
TABLES_DIR = "resources/tables"
BATCH_DIR = "resources/proxy"
CACHE_DIR = "resources/cache"
SCORES_DIR = "resources/scores"
DEFAULT_CONFIG = "config/config.yaml"
