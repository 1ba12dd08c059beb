"""Bring translation files in line with the .pot: python scripts/pot_merge.py POT PO...

Each .po gets the .pot's terms in the .pot's order, with their references and flags; a term
keeps its translation; a new term is empty; a term no longer in the .pot is dropped. Prints
each file's coverage."""

import sys

import polib


def merge(pot, path):
    old = polib.pofile(path)
    translated = {entry.msgid: entry.msgstr for entry in old if entry.msgstr}
    new = polib.POFile(wrapwidth=78)
    new.header = pot.header
    new.metadata = {**pot.metadata, **{k: v for k, v in old.metadata.items() if k in KEPT}}
    for entry in pot:
        new.append(
            polib.POEntry(
                msgid=entry.msgid,
                msgstr=translated.get(entry.msgid, ""),
                occurrences=entry.occurrences,
                comment=entry.comment,
                tcomment=entry.tcomment,
                flags=list(entry.flags),
            )
        )
    new.save(path)
    done = sum(1 for entry in new if entry.msgstr)
    print(f"{path}: {done}/{len(new)} terms translated ({done / max(len(new), 1):.1%})")


# what a language's file keeps of its own header
KEPT = ("Language", "Language-Team", "Plural-Forms", "Last-Translator", "PO-Revision-Date")

if __name__ == "__main__":
    template = polib.pofile(sys.argv[1])
    print(f"{sys.argv[1]}: {len(template)} terms")
    for po_path in sys.argv[2:]:
        merge(template, po_path)
