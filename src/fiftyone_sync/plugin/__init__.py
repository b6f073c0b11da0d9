"""The FiftyOne plugin that brings Tator into the App (DESIGN.md section 9).

``plugin/tator`` is the plugin folder FiftyOne loads (the App manager points every App
server's ``FIFTYONE_PLUGINS_DIR`` at this directory, see ``apps.process``). Its operators
only call our HTTP API, so pulls and pushes run the same jobs as the applet and CLI:

* :mod:`fiftyone_sync.plugin.identity`: whose Tator identity an operator call carries;
* :mod:`fiftyone_sync.plugin.api_client`: the API calls and job waits the operators make.
"""
