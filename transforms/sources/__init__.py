"""One module per channel: reading its raw files into raw records and parsing them into complaints."""
