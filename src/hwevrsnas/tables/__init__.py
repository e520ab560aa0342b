"""tables of hwevrsnas."""
