"""Marsad portal: the Flask application."""
