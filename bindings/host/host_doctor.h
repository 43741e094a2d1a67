/* host_doctor.h — `tide doctor [DIR]`: the summary of a job's dumps (scripts/tide/diag/doctor.lua). */
#ifndef TIDE_HOST_DOCTOR_H
#define TIDE_HOST_DOCTOR_H

/* argv[0] is "doctor"; returns the exit code (0: a summary was printed). Needs no MPI. */
int tide_host_doctor(int argc, char **argv);

#endif
