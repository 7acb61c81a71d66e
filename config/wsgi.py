import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# What is loaded by now (Django, the project, ~300k objects) lives as long as the process: out of the
# cyclic garbage collector's sight, its full collections don't walk it again every few hundred
# requests, a pause of 30-60 ms in a request's latency (bench/search.py measures search this way).
gc.freeze()
