// Pipelines list: times in the reader's zone.
"use strict";

localizeTimes(document);
