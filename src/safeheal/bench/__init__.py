"""The benchmark that reproduces the paper's evaluation (section 5): `safeheal bench`."""
