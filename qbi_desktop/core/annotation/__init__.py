"""Annotation core (no Qt): where mask journals live and who may write them, the record of
where each image's mask was saved, and the clean-up of what a killed run left behind.

The stroke model (:mod:`qbi_desktop.core.masks`) and the journal format
(:mod:`qbi_desktop.core.journal`) still live at the top of ``core``; new annotation code goes
here.
"""
