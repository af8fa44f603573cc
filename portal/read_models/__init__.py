"""Read models: what a page or the API shows when it joins several domains (a customer's
page: deliveries, reading, comments, scores and tasks). They only read; the rules that change
anything stay in each domain's services."""
