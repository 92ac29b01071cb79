"""Asset checks, one module per asset: blocking ones stop downstream assets; the others warn."""

import dagster as dg

from sparklio_pipelines.defs.checks import captions, copy, image, video

ALL_CHECKS = dg.load_asset_checks_from_modules([copy, image, video, captions])
