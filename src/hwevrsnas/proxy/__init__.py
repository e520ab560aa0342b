"""proxy of hwevrsnas."""
