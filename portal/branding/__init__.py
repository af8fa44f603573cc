"""The company's brand on customer pages and e-mail (name, logo, accent colour), the rep's
contact card, and the images both show (served by Portal itself)."""
