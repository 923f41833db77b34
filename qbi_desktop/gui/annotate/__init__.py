"""Painting label masks on the canvas: overlay, tools and pen input, per-plane mask sessions.

The Annotate dock (:mod:`qbi_desktop.gui.docks.annotate`) builds these and wires them to the
window; the Spots dock uses the same session and overlay to accept proposals into the mask.
"""
