"""search of hwevrsnas."""
