"""The Qt front end: a thin layer of widgets over qbi_desktop.core."""
