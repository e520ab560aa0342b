"""spaces of hwevrsnas."""
