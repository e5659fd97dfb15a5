"""`make bench`: performance figures of the deployed stack, measured inside its container.

Modules: ``parse`` (wrk and h2load output), ``stats`` (median/min/max, ratios within a run),
``report`` (JSON and the Markdown table), ``plot`` (the PNG), ``nginx_variants`` (what-if edits
of the rendered nginx configuration), ``remote`` (commands in the container), ``run`` (the plan
and the CLI), ``loaddriver`` (runs the kit's load generator inside the container with marks).
"""
