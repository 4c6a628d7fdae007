"""Reports: HTML, JSON and JUnit XML written from one run document."""
