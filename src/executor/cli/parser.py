"""The command tree: one argparse parser, built without importing any command's code.

Each leaf command names its handler as ``"module:function"`` (under ``executor.cli.commands``);
:func:`executor.cli.main` imports only the module of the command that runs. The same tree
generates shell completion and docs/cli.md's reference.
"""

from __future__ import annotations

import argparse

from executor import __version__

DESCRIPTION = """\
Executor: one governed catalog of integrations for AI agents.

Commands that need the catalog talk to the background daemon and start it when none runs."""

EPILOG = """\
exit codes: 0 ok, 1 the tool or request failed, 2 usage, 3 approval or input pending,
4 daemon unavailable, 130 interrupted. Docs: docs/cli.md"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def _common() -> argparse.ArgumentParser:
    """Options every command takes, also after the command's name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    return common


class _Tree:
    def __init__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self._subparsers = subparsers
        self._common = _common()

    def add(
        self,
        name: str,
        handler: str | None,
        help: str,
        *,
        description: str | None = None,
        **kw: object,
    ) -> argparse.ArgumentParser:
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=description or help,
            parents=[self._common],
            formatter_class=_Formatter,
            **kw,  # type: ignore[arg-type]
        )
        if handler:
            parser.set_defaults(handler=handler)
        return parser


def _group(tree: _Tree, name: str, help: str, default: str | None = None) -> _Tree:
    parser = tree.add(name, default, help)
    sub = parser.add_subparsers(title="commands", metavar="<command>", dest=f"{name}_command")
    sub.required = default is None
    return _Tree(sub)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``executor`` command tree."""
    parser = argparse.ArgumentParser(
        prog="executor", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("-V", "--version", action="version", version=f"executor {__version__}")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the data dir (default: $EXECUTOR_DATA_DIR or ~/.executor)",
    )
    sub = parser.add_subparsers(title="commands", metavar="<command>", dest="command")
    sub.required = True
    tree = _Tree(sub)

    # -- sources ---------------------------------------------------------------------------
    sources = _group(tree, "sources", "add, list, refresh and remove sources (integrations)")
    add = sources.add(
        "add",
        "sources:add",
        "detect a source's type, then add it",
        description="Detect what a URL or file is (OpenAPI, GraphQL, Google Discovery, MCP), "
        "say what was found, import it and report how many tools it produced.",
    )
    add.add_argument("source", help="a URL or a file path")
    add.add_argument("--slug", help="the integration's name (default: from the source's title)")
    add.add_argument(
        "--type", dest="kind", metavar="KIND", help="skip detection: openapi, graphql, …"
    )
    add.add_argument("--base-url", help="the API's base URL when the spec's servers are relative")
    add.add_argument(
        "--review-changes",
        action=argparse.BooleanOptionalAction,
        help="hold tools later refreshes add or change until reviewed (default: by kind)",
    )
    add.add_argument(
        "--review-mode",
        choices=["serve_reviewed", "block"],
        help="while held, a changed tool serves its reviewed definition, or is blocked",
    )
    sources.add("list", "sources:list_", "list integrations with their tool counts")
    refresh = sources.add("refresh", "sources:refresh", "re-read a source; report what changed")
    refresh.add_argument("slug")
    reviews = sources.add(
        "reviews",
        "sources:reviews",
        "list changes that refreshes hold for review, with what changed",
        description="List the tool changes (and integration settings, named @integration) that "
        "refreshes hold for review: what changed, since when, and a short before/after. "
        "--json gives the reviewed and the proposed definitions in full.",
    )
    reviews.add_argument("integration", nargs="?", help="only this integration's")
    review = sources.add(
        "review",
        "sources:review",
        "accept or reject held changes of an integration",
        description="Decide held changes of an integration: --accept serves the proposed "
        "definitions (an added tool becomes callable), --reject keeps the reviewed ones and is "
        "remembered, so later refreshes do not hold the same change again. Without tool names, "
        "every held change of the integration.",
    )
    review.add_argument("integration")
    review.add_argument("tools", nargs="*", metavar="tool", help="a tool's name, or @integration")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument(
        "--accept", dest="action", action="store_const", const="accept", help="serve them"
    )
    decision.add_argument(
        "--reject", dest="action", action="store_const", const="reject", help="keep the reviewed"
    )
    remove = sources.add("remove", "sources:remove", "remove an integration with its connections")
    remove.add_argument("slug")

    # -- connections -----------------------------------------------------------------------
    connections = _group(tree, "connections", "create, list and remove connections (accounts)")
    create = connections.add(
        "create",
        "connections:create",
        "create a connection; secrets come from a hidden prompt, stdin or a provider URI",
        description="Create a connection to an integration. Secrets are never taken as plain "
        "command-line values (they would land in shell history): they come from a hidden prompt, "
        "from stdin (--secret-stdin) or as a provider reference (--secret env://NAME, "
        "secret://name, op://…).",
    )
    create.add_argument("integration")
    create.add_argument("name", nargs="?", default="default", help="(default: default)")
    create.add_argument(
        "--auth",
        metavar="TYPE",
        choices=["none", "api_key", "bearer", "basic", "custom_headers"],
        help="none, api_key, bearer, basic or custom_headers (default: the integration's method)",
    )
    create.add_argument("--method", help="which of the integration's auth methods (its id)")
    create.add_argument("--secret", metavar="URI", help="the secret as a reference: env://NAME, …")
    create.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    create.add_argument("--username", help="the username of basic auth (not a secret)")
    create.add_argument(
        "--secret-header",
        action="append",
        metavar="NAME[=URI]",
        help="custom_headers: a header whose value is a secret (prompted unless =URI); repeat",
    )
    create.add_argument("--base-url", help="override the API's base URL")
    create.add_argument(
        "--header",
        action="append",
        metavar="NAME=VALUE",
        help="a plain (non-secret) header; repeat",
    )
    create.add_argument("--timeout", type=float, help="seconds a call may take")
    create.add_argument("--personal", action="store_true", help="yours only, not the workspace's")
    listing = connections.add("list", "connections:list_", "list connections")
    listing.add_argument("integration", nargs="?")
    remove = connections.add("remove", "connections:remove", "remove a connection and its secrets")
    remove.add_argument("integration")
    remove.add_argument("name")

    # -- policies --------------------------------------------------------------------------
    policies = _group(tree, "policies", "allow, gate or block tools by address pattern")
    setting = policies.add(
        "set",
        "policies:set_",
        "add a rule: tools matching PATTERN get ACTION",
        description="Add a policy rule. Patterns: '*', an exact address, 'github.*' (a subtree), "
        "'github.*.issues.create' ('*' is one segment). The first matching rule of each scope "
        "counts; the most restrictive scope wins.",
    )
    setting.add_argument("pattern")
    setting.add_argument("action", choices=["allow", "require_approval", "block"])
    setting.add_argument("--scope", choices=["workspace", "user"], default="workspace")
    setting.add_argument("--position", type=int, help="order among the rules (default: last)")
    policies.add("list", "policies:list_", "list rules in order")
    remove = policies.add("remove", "policies:remove", "remove a rule by id")
    remove.add_argument("policy_id", metavar="ID")

    # -- toolkits --------------------------------------------------------------------------
    toolkits = _group(tree, "toolkits", "named subsets of the catalog, each its own MCP endpoint")
    toolkits.add("list", "toolkits:list_", "list toolkits")
    create = toolkits.add("create", "toolkits:create", "create a toolkit from address patterns")
    create.add_argument("slug")
    create.add_argument(
        "--pattern", action="append", required=True, help="an address pattern; repeat"
    )
    create.add_argument("--description")
    show = toolkits.add("show", "toolkits:show", "show a toolkit and its MCP URL")
    show.add_argument("slug")
    remove = toolkits.add("remove", "toolkits:remove", "remove a toolkit")
    remove.add_argument("slug")

    # -- tools -----------------------------------------------------------------------------
    tools = _group(tree, "tools", "search, list and describe tools")
    search = tools.add("search", "tools:search", "search tools by what you want to do")
    search.add_argument("query")
    search.add_argument("--integration")
    search.add_argument("--limit", type=int, default=10)
    listing = tools.add("list", "tools:list_", "list tools with their policy")
    listing.add_argument("integration", nargs="?")
    listing.add_argument("--connection")
    describe = tools.add("describe", "tools:describe", "a tool's description, parameters, policy")
    describe.add_argument("path", nargs="+", help="the tool's address (dots or spaces)")
    tools.add("sources", "sources:list_", "list integrations (same as: sources list)")

    # -- runs ------------------------------------------------------------------------------
    runs = _group(tree, "runs", "the run history (an audit log)", default="runs:list_")
    listing = runs.add("list", "runs:list_", "newest runs first")
    listing.add_argument("--limit", type=int, default=20)
    show = runs.add("show", "runs:show", "one run with its tool calls")
    show.add_argument("run_id", metavar="ID")

    # -- calling ---------------------------------------------------------------------------
    call = tree.add(
        "call",
        "call:call",
        "call a tool; --help browses namespaces and shows a tool's parameters",
        add_help=False,
        usage="executor call <path...> ['{json}' | -] [--arg KEY=VALUE ...] [--help]",
        description="Call a tool by its address (dots or spaces: petstore.default.pets.list_pets "
        "or petstore pets list_pets when petstore has one connection). Arguments come from a "
        "JSON object, from stdin ('-') and from --arg KEY=VALUE (typed by the tool's schema). "
        "A call that needs approval, or whose tool asks for input, asks on the terminal, or "
        "prints the resume command (exit 3; answer input with executor resume --content). "
        "With --help at any depth: the namespaces and tools below that path, or the tool's "
        "parameters.",
    )
    call.add_argument("words", nargs="*", metavar="path", help="the address, then JSON or -")
    call.add_argument(
        "--arg", action="append", default=[], metavar="KEY=VALUE", help="one argument"
    )
    call.add_argument(
        "-h", "--help", action="store_true", help="browse or describe instead of calling"
    )
    call.add_argument("--match", metavar="TEXT", help="with --help: only names containing TEXT")
    call.add_argument("--limit", type=int, default=50, help="with --help: at most this many")
    call.add_argument(
        "--no-input", action="store_true", help="never ask on the terminal (approval or input)"
    )
    resume = tree.add(
        "resume", "call:resume", "answer a paused execution: accept, decline or cancel"
    )
    resume.add_argument("--execution-id", required=True, metavar="ID")
    resume.add_argument("--action", choices=["accept", "decline", "cancel"], default="accept")
    resume.add_argument("--content", metavar="JSON", help="a JSON object to answer with")

    # -- serving ---------------------------------------------------------------------------
    mcp = tree.add(
        "mcp",
        "serve:mcp",
        "MCP over stdio, proxied to the daemon (what an agent launches)",
    )
    mcp.add_argument("--approval", choices=["model", "browser", "native"], help="approval mode")
    mcp.add_argument("--tools", choices=["direct"], help="serve each tool as its own MCP tool")
    mcp.add_argument("--toolkit", metavar="SLUG", help="serve this toolkit only")
    mcp.add_argument(
        "--in-process",
        action="store_true",
        help="serve from this process instead of the daemon (containers, CI: nothing lingers)",
    )
    web = tree.add("web", "serve:web", "open the web UI (or run a foreground server)")
    web.add_argument("--foreground", action="store_true", help="serve here until Ctrl-C")
    web.add_argument("--no-open", action="store_true", help="print the link, do not open a browser")
    web.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    web.add_argument("--port", type=int, help="with --foreground: the port (default 4788)")

    daemon = _group(tree, "daemon", "run, inspect, stop or restart the background daemon")
    run = daemon.add("run", "serve:daemon_run", "run the daemon in the foreground")
    run.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="preferred port (default $EXECUTOR_PORT or 4788)")
    run.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    daemon.add("status", "serve:daemon_status", "is it running, where, since when")
    daemon.add("stop", "serve:daemon_stop", "stop it gracefully (paused runs stay resumable)")
    daemon.add("restart", "serve:daemon_restart", "stop it, then start it in the background")

    install = tree.add(
        "install",
        "service:install",
        "install the daemon as a user service (systemd --user or launchd) and start it",
    )
    install.add_argument("--manager", choices=["systemd", "launchd"], help="default: by OS")
    install.add_argument("--no-start", action="store_true", help="write the file only")
    uninstall = tree.add("uninstall", "service:uninstall", "stop and remove the user service")
    uninstall.add_argument("--manager", choices=["systemd", "launchd"], help="default: by OS")
    tree.add("doctor", "doctor:doctor", "check the data dir, database, files, port, daemon")
    completion = tree.add("completion", "completion:completion", "print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser
