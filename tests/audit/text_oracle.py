"""What free text means, in plain Python and written apart from the code it checks
(services/audit/domain/text_search.py): the text's words, side by side, from the start of a word
of the resource identifier or of the principal e-mail, the last one possibly unfinished."""

from __future__ import annotations


def _spaced(value: str) -> str:
    """ASCII letters lower-cased, every other character but an ASCII digit a space, spaces
    collapsed: "Pipeline_Falcon-24" -> "pipeline falcon 24"."""
    kept = []
    for c in value:
        if "A" <= c <= "Z":
            kept.append(c.lower())
        elif "a" <= c <= "z" or "0" <= c <= "9":
            kept.append(c)
        else:
            kept.append(" ")
    return " ".join("".join(kept).split())


def text_matches(text: str, resource_id: str, email: str) -> bool:
    typed = " " + _spaced(text)
    return any(typed in f" {_spaced(value)} " for value in (resource_id, email))
