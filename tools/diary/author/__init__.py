"""author: what the diary's author runs to start a diary and add to it (diary init, diary new)."""
