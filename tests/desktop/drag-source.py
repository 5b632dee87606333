#!/usr/bin/python3
"""A tiny GTK window that offers the paths given on the command line as a file drag.

The desktop end-to-end test starts it beside Docent's window under Xvfb and drags from it
with xdotool, so Docent receives a real native drop (not a synthetic page event).

    drag-source.py X Y PATH...    window at X,Y; prints "ready" once it is shown
"""
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


def main() -> None:
    x, y = int(sys.argv[1]), int(sys.argv[2])
    uris = [Path(p).resolve().as_uri() for p in sys.argv[3:]]
    window = Gtk.Window(title="drag-source")
    window.set_default_size(160, 120)
    window.move(x, y)
    box = Gtk.EventBox()
    box.add(Gtk.Label(label="drag me"))
    window.add(box)
    box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
    box.drag_source_add_uri_targets()

    def on_get(_widget, _context, data, _info, _time):
        data.set_uris(uris)

    box.connect("drag-data-get", on_get)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()

    def announce():
        print("ready", flush=True)
        return False

    GLib.timeout_add(300, announce)
    Gtk.main()


if __name__ == "__main__":
    main()
