"""analysis of hwevrsnas."""
