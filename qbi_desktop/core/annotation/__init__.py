"""Annotation core (no Qt): the label-mask editor (:mod:`.masks`), the crash-safe stroke journal
(:mod:`.journal`, its records, image identity, typed header and lock), where journals live and
which may be used (:mod:`.journal_places`), the record of where each image's mask was saved
(:mod:`.mask_index`), and the clean-up of what a killed run left behind (:mod:`.leftovers`).
"""
