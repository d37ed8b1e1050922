"""A real PowerShell grammar (tree-sitter) for checking the Windows bootstrap without Windows.

No PowerShell engine can be installed here, so scripts are parsed, not run: a
parse error, a broken here-string or a mis-quoted value shows up as an ERROR or
MISSING node or as a literal whose value differs from what was meant.
"""

from __future__ import annotations

from typing import Iterator

import pytest

INSTALL_HINT = "pip install tree-sitter==0.26.1 tree-sitter-powershell==0.26.4 (requirements-test.txt)"
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def parse(text: str):
    try:
        import tree_sitter
        import tree_sitter_powershell
    except ImportError:
        pytest.fail(f"the PowerShell grammar is not installed: {INSTALL_HINT}")
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    return parser.parse(text.encode("utf-8")).root_node


def walk(node) -> Iterator:
    yield node
    for child in node.children:
        yield from walk(child)


def nodes(node, node_type: str) -> list:
    return [found for found in walk(node) if found.type == node_type]


def syntax_errors(node) -> list[str]:
    """Each ERROR or MISSING node as 'line N: text'."""
    return [
        f"line {found.start_point[0] + 1}: {found.text.decode(errors='replace')[:80]!r}"
        for found in walk(node)
        if found.type == "ERROR" or found.is_missing
    ]


def text(node) -> str:
    return node.text.decode("utf-8")


def verbatim_value(literal: str) -> str:
    """The value of a single-quoted PowerShell string: quotes stripped, each doubled quote character made single."""
    assert literal[0] in SINGLE_QUOTES and literal[-1] in SINGLE_QUOTES, literal
    body, value, index = literal[1:-1], [], 0
    while index < len(body):
        value.append(body[index])
        if body[index] in SINGLE_QUOTES:
            assert body[index + 1 : index + 2] and body[index + 1] in SINGLE_QUOTES, f"a lone quote ends {literal!r}"
            index += 1
        index += 1
    return "".join(value)


def here_string_body(literal: str) -> str:
    """The content of a verbatim here-string @'...'@ (the newlines after @' and before '@ are not content)."""
    assert literal.startswith("@'\n") and literal.endswith("\n'@"), literal[:20]
    return literal[3:-3]
