"""The web app's URLs, one list per area, all in the `pages` namespace (`pages:subject`)."""

from trialdesk.web.pages.accounts import urls as accounts
from trialdesk.web.pages.data import urls as data
from trialdesk.web.pages.diary import urls as diary
from trialdesk.web.pages.enrolment import urls as enrolment
from trialdesk.web.pages.forms import urls as forms
from trialdesk.web.pages.home import urls as home
from trialdesk.web.pages.monitoring import urls as monitoring
from trialdesk.web.pages.patient import urls as patient
from trialdesk.web.pages.queues import urls as queues
from trialdesk.web.pages.review import urls as review
from trialdesk.web.pages.safety import urls as safety
from trialdesk.web.pages.visits import urls as visits

app_name = "pages"
urlpatterns = [
    *accounts.urlpatterns,
    *home.urlpatterns,
    *queues.urlpatterns,
    *enrolment.urlpatterns,
    *visits.urlpatterns,
    *forms.urlpatterns,
    *review.urlpatterns,
    *safety.urlpatterns,
    *data.urlpatterns,
    *monitoring.urlpatterns,
    *diary.urlpatterns,
    *patient.urlpatterns,
]
