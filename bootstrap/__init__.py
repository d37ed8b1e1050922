"""Instance bootstrap scripts and the pure renderer that turns them into userdata."""
