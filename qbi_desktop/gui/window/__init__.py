"""The main window's parts, one module per job (docks, menus, status bar, saved layout, opening
documents, showing them); ``gui.main_window.MainWindow`` puts them together."""
