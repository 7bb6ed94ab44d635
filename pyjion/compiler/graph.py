"""The instruction graph of a code object as Graphviz DOT: basic blocks, their edges (fall-through,
jump, exception handler), and the kinds of the values on the stack after each instruction."""
from __future__ import annotations

from .analysis import StackKinds
from .flow import Block, Handler


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\<").replace(">", "\\>") \
        .replace("{", "\\{").replace("}", "\\}").replace("|", "\\|")


def to_dot(name: str, blocks: dict[int, Block], kinds: StackKinds, handlers: dict[int, Handler]) -> str:
    lines = [f'digraph "{_escape(name)}" {{', '  node [shape=record, fontname="monospace", fontsize=10];']
    for start, block in blocks.items():
        if block.depth is None:
            continue  # unreachable
        rows = []
        for ins in block.instructions:
            arg = "" if ins.arg is None else f" {ins.arg} ({ins.argval!r})"[:60]
            stack = ", ".join(kind.value for kind in kinds.after(ins)) if ins.index in kinds.before else ""
            rows.append(_escape(f"{ins.index * 2:>4} {ins.opname}{arg}   [{stack}]"))
        lines.append(f'  b{start * 2} [label="{{' + "\\l|".join(rows) + '\\l}"];')
        last = block.last
        if last.target is not None and last.target in blocks:
            lines.append(f'  b{start * 2} -> b{last.target * 2} [label="jump"];')
        if block.fallthrough is not None:
            lines.append(f"  b{start * 2} -> b{block.fallthrough * 2};")
        for target in sorted({handlers[ins.index].target for ins in block.instructions if ins.index in handlers}):
            lines.append(f'  b{start * 2} -> b{target * 2} [style=dashed, label="except"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
