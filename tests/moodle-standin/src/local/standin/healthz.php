<?php
// A cheap page for load tests: bootstrap and one DB read.
require(__DIR__ . '/../../config.php');
standin_require_upgraded();
echo "ok " . $CFG->release . "\n";
