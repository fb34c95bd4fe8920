"""The web app for site staff: server-rendered pages with htmx, in English, Danish and Chinese.

Each area is a subpackage with its views, URLs, templates (`templates/pages/<area>/`) and
messages (`<area>/locale/`). A view parses the request, gets its rows from the access policy
(`trialdesk.store.access`, through `context.study_access`) or calls a service, and renders.
"""
