"""Small heads trained afterwards on a frozen world model: the viewer's decoder, the
failure-warning head."""
